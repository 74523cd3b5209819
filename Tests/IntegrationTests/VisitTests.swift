import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import IngestAPI
@testable import Shared

/// What a stored page view carries about its visit, through ingest, the queue and the worker.
@Suite(.serialized) struct VisitTests {
    static let chromeOnMac =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    static let safariOnIPhone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    static let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    /// A public address Debian's GeoIP database places in the United States.
    static let visitorAddress = "8.8.8.8"

    /// IngestAPI behind one trusted proxy, so `X-Forwarded-For` names the visitor.
    func app(_ servers: TestServers) -> some ApplicationProtocol {
        let limits = RateLimitPolicy(
            defaults: RateLimits(), store: RateLimitStore(redis: servers.redis, keys: servers.configuration.keys), trustedProxies: 1,
            logger: servers.logger)
        let dependencies = IngestDependencies(
            queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2, limits: limits)
        return Application(router: buildRouter(dependencies))
    }

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, userAgent: String?, address: String = visitorAddress)
        async throws -> TestResponse
    {
        var headers: HTTPFields = [.contentType: "text/plain", .xForwardedFor: address]
        if let userAgent { headers[.userAgent] = userAgent }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test func plausibleScriptEventsAPIAndOurTrackerStoreTheSameDocument() async throws {
        try await TestServers.with { servers in
            let url = "https://shop.example/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
            let referrer = "https://www.google.com/search?q=shop"
            let bodies = [
                // The Events API as its docs show it, long names.
                #"{"name":"pageview","url":"\#(url)","domain":"shop.example","referrer":"\#(referrer)","props":{"plan":"pro"},"screen_width":1440}"#,
                // Plausible's script: short names, props as a JSON string in `m`.
                #"{"n":"pageview","u":"\#(url)","d":"shop.example","r":"\#(referrer)","m":"{\"plan\":\"pro\"}","w":1440,"h":0}"#,
                // Our tracker: short names, props as an object, a client event id.
                #"{"n":"pageview","u":"\#(url)","d":"shop.example","r":"\#(referrer)","p":{"plan":"pro"},"event_id":"ours-1"}"#,
            ]
            try await app(servers).test(.router) { client in
                for body in bodies {
                    let response = try await post(client, "/api/event", body, userAgent: Self.chromeOnMac)
                    #expect(response.status == .accepted)
                    #expect(String(buffer: response.body) == "{}")
                    #expect(response.headers[.plausibleDropped] == nil)
                }
            }
            try await servers.withWorker {
                try await eventually("the three page views are stored") { try await servers.count() == 3 }
            }
            let documents = try await servers.documents()
            let comparable = documents.map { document in
                document.filter { !["_id", "event_id", "timestamp", "createdAt"].contains($0.key) }.mapValues { "\($0)" }
            }
            #expect(Set(comparable.map { $0.sorted { $0.key < $1.key }.description }).count == 1, "\(comparable)")
            let document = try #require(documents.first { $0["event_id"] as? String == "ours-1" })
            #expect(document["_id"] as? String == "shop.example/ours-1")
            #expect(document["site_id"] as? String == "shop.example")
            #expect(document["event_type"] as? String == "page_view")
            #expect(document["name"] as? String == "pageview")
            #expect(document["path"] as? String == "/pricing")
            #expect(document["hostname"] as? String == "shop.example")
            #expect(document["referrer"] as? String == "google.com/search")
            #expect(document["source"] as? String == "newsletter")
            #expect(document["utm_source"] as? String == "newsletter")
            #expect(document["utm_medium"] as? String == "email")
            #expect(document["utm_campaign"] as? String == "launch")
            #expect(document["browser"] as? String == "Chrome")
            #expect(document["browser_version"] as? String == "120.0")
            #expect(document["os"] as? String == "Mac")
            #expect(document["os_version"] as? String == "10.15")
            #expect(document["device"] as? String == "Desktop")
            #expect(document["country"] as? String == "US")
            #expect((document["props"] as? [String: Any])?["plan"] as? String == "pro")
            #expect(document["visitor_id"] is NSNumber)
            #expect(document["session_id"] is NSNumber)
            let stored = String(decoding: try JSONSerialization.data(withJSONObject: documents), as: UTF8.self)
            #expect(!stored.contains(Self.visitorAddress), "a stored document holds the client address")
            #expect(!stored.contains("AppleWebKit"), "a stored document holds the raw user agent")
        }
    }

    @Test func botsAreAnsweredAsDroppedAndNeverQueued() async throws {
        try await TestServers.with { servers in
            let queue = servers.configuration.keys.queue
            try await app(servers).test(.router) { client in
                let plausible = #"{"n":"pageview","u":"https://shop.example/","d":"shop.example"}"#
                for userAgent in [Self.googlebot, nil, ""] {
                    let response = try await post(client, "/api/event", plausible, userAgent: userAgent)
                    #expect(response.status == .accepted)
                    #expect(response.headers[.plausibleDropped] == "1", "user agent \(userAgent ?? "none")")
                }
                // One event per site named: the header counts them all.
                let twoSites = #"{"n":"pageview","u":"https://shop.example/","d":"shop.example,mirror.example"}"#
                #expect(try await post(client, "/api/event", twoSites, userAgent: Self.googlebot).headers[.plausibleDropped] == "2")
                for (uri, method) in [("/js/script.js", HTTPRequest.Method.get), ("/js/script.js", .head)] {
                    let response = try await client.execute(uri: uri, method: method)
                    #expect(response.status == .ok, "\(method) \(uri)")
                    #expect(response.headers[.contentType] == "application/javascript; charset=utf-8")
                    let etag = try #require(response.headers[.eTag])
                    let again = try await client.execute(uri: uri, method: .get, headers: [.ifNoneMatch: "W/" + etag])
                    #expect(again.status == .notModified, "a weak validator from a compressing proxy still matches")
                }
                let ours = #"{"site_id":"shop.example","event_type":"page_view","path":"/"}"#
                let response = try await post(client, "/event", ours, userAgent: Self.googlebot)
                #expect(response.status == .accepted)
                #expect(response.headers[.pipelineDropped] == "bot")
                #expect(String(buffer: response.body).contains(#""dropped":"bot""#))
                let batch = try await post(client, "/events", "[\(ours),\(ours)]", userAgent: Self.googlebot)
                #expect(String(buffer: batch.body).contains(#""accepted":0,"dropped":2"#))
                #expect(try await servers.length(queue) == 0, "a bot's event reached the queue")
                // Server-side senders of /event (curl, as in seed 004's sample) are not bots.
                let curl = try await post(client, "/event", ours, userAgent: "curl/8.5.0")
                #expect(curl.status == .accepted)
                #expect(curl.headers[.pipelineDropped] == nil)
                #expect(try await servers.length(queue) == 1)
            }
        }
    }

    @Test func plausibleErrorsUseItsShapeAndQueueNothing() async throws {
        try await TestServers.with { servers in
            try await app(servers).test(.router) { client in
                let cases: [(String, String)] = [
                    (#"{"n":"pageview","d":"shop.example"}"#, "url"),
                    (#"{"n":"pageview","u":"not a url","d":"shop.example"}"#, "url"),
                    (#"{"n":"pageview","u":"https://shop.example/"}"#, "domain"),
                    (#"{"u":"https://shop.example/","d":"shop.example"}"#, "name"),
                    (#"{"n":"pageview","u":"https://shop.example/","d":"shop example"}"#, "domain"),
                    (#"{"n":"pageview","u":"https://shop.example/","d":"shop.example","p":{"$where":"1"}}"#, "props.$where"),
                    (#"{"n":"pageview","u":"https://shop.example/","d":"shop.example","site_id":"x"}"#, "site_id"),
                    (#"{"n":"pageview","u":"https://shop.example/","d":"shop.example""#, "request"),
                ]
                for (body, field) in cases {
                    let response = try await post(client, "/api/event", body, userAgent: Self.chromeOnMac)
                    #expect(response.status == .badRequest, "\(body)")
                    let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let errors = answer?["errors"] as? [String: Any]
                    #expect(errors?[field] is [String], "\(body) → \(String(buffer: response.body))")
                }
            }
            #expect(try await servers.length(servers.configuration.keys.queue) == 0)
        }
    }

    @Test func aCustomEventKeepsItsNameAndOneEventGoesToEverySiteNamed() async throws {
        try await TestServers.with { servers in
            let body = #"{"n":"Outbound Link: Click","u":"https://www.shop.example/a#b","d":"shop.example,www.Mirror.example","p":{"url":"https://other.example/"},"event_id":"click-1"}"#
            try await app(servers).test(.router) { client in
                let click = try await post(client, "/api/event", body, userAgent: Self.safariOnIPhone)
                #expect(click.status == .accepted)
                let hashMode = #"{"n":"pageview","u":"https://shop.example/app#/settings","d":"shop.example","h":1,"event_id":"hash-1"}"#
                let view = try await post(client, "/api/event", hashMode, userAgent: Self.safariOnIPhone)
                #expect(view.status == .accepted)
            }
            try await servers.withWorker {
                try await eventually("both sites' copies and the hash-mode page view are stored") { try await servers.count() == 3 }
            }
            let clicks = try await servers.documents(#"{"event_id": "click-1"}"#)
            #expect(Set(clicks.compactMap { $0["site_id"] as? String }) == ["shop.example", "mirror.example"])
            for click in clicks {
                #expect(click["name"] as? String == "Outbound Link: Click")
                #expect(click["event_type"] as? String == "Outbound_Link:_Click")
                #expect(click["path"] as? String == "/a")
                #expect(click["hostname"] as? String == "www.shop.example")
                #expect(click["browser"] as? String == "Safari")
                #expect(click["os"] as? String == "iOS")
                #expect(click["device"] as? String == "Mobile")
                #expect(click["source"] as? String == "Direct / None")
            }
            let hash = try #require(try await servers.documents(#"{"event_id": "hash-1"}"#).first)
            #expect(hash["path"] as? String == "/app#/settings")
        }
    }

    /// A queued page view as ingest captures it, received at `receivedAt`.
    func captured(
        site: String = "visits", id: String, at timestamp: Int64, receivedAt: Int64? = nil, address: String = "198.51.100.7",
        userAgent: String = chromeOnMac, url: String = "https://visits.example/", referrer: String? = nil
    ) -> [UInt8] {
        var event = Event(
            eventID: id, siteID: site, eventType: "page_view", path: PageURL.parse(url)?.path ?? "/", timestamp: timestamp,
            receivedAt: receivedAt ?? timestamp)
        event.client = ClientContext(ip: address, ua: userAgent, url: url, ref: referrer)
        return event.queuePayload
    }

    static let minute: Int64 = 60_000
    static let start: Int64 = 1_763_856_000_000 + 9 * 3_600_000  // 2025-11-23T09:00:00Z

    @Test func aVisitKeepsItsSourceAcrossInternalClicksAndEndsAfterThirtyMinutes() async throws {
        try await TestServers.with { servers in
            let t = Self.start
            try await servers.queue.enqueue([
                captured(id: "v1", at: t, url: "https://visits.example/", referrer: "https://news.ycombinator.com/item?id=1"),
                captured(id: "v2", at: t + 10 * Self.minute, url: "https://visits.example/docs", referrer: "https://visits.example/"),
                captured(id: "v3", at: t + 39 * Self.minute, url: "https://visits.example/docs/2", referrer: "https://www.visits.example/docs"),
                // 31 minutes after the last event: a new visit; its internal referrer names no source.
                captured(id: "v4", at: t + 70 * Self.minute, url: "https://visits.example/again", referrer: "https://visits.example/docs/2"),
                // Another visitor at the same moment: a visit of its own.
                captured(id: "w1", at: t + 10 * Self.minute, address: "198.51.100.8"),
            ])
            try await servers.withWorker {
                try await eventually("five page views are stored") { try await servers.count() == 5 }
            }
            var byID: [String: [String: Any]] = [:]
            for document in try await servers.documents() { byID[document["event_id"] as? String ?? ""] = document }
            let session = { (id: String) in (byID[id]?["session_id"] as? NSNumber)?.int64Value }
            #expect(session("v1") != nil)
            #expect(session("v1") == session("v2"))
            #expect(session("v2") == session("v3"))
            #expect(session("v4") != session("v3"))
            #expect(session("w1") != session("v1"))
            for id in ["v1", "v2", "v3"] {
                #expect(byID[id]?["source"] as? String == "Hacker News", "\(id)")
                #expect(byID[id]?["referrer"] as? String == "news.ycombinator.com/item")
            }
            #expect(byID["v4"]?["source"] as? String == "Direct / None")
            #expect(byID["v4"]?["referrer"] == nil)
            #expect(byID["v1"]?["visitor_id"] as? NSNumber == byID["v4"]?["visitor_id"] as? NSNumber)
            #expect(byID["w1"]?["visitor_id"] as? NSNumber != byID["v1"]?["visitor_id"] as? NSNumber)
        }
    }

    @Test func theSameVisitorOnTwoDaysHasTwoVisitorIDs() async throws {
        try await TestServers.with { servers in
            let day: Int64 = 86_400_000
            try await servers.queue.enqueue([
                captured(id: "d1a", at: Self.start),
                captured(id: "d1b", at: Self.start + 5 * Self.minute),
                captured(id: "d2", at: Self.start + day),
                // A page view that happened on day one but was received on day two hashes with day two's salt.
                captured(id: "late", at: Self.start + 6 * Self.minute, receivedAt: Self.start + day),
                // Who names its user is the same visitor on every day.
                captured(id: "u1", at: Self.start).withUser("alice"),
                captured(id: "u2", at: Self.start + day).withUser("alice"),
            ])
            try await servers.withWorker {
                try await eventually("six page views are stored") { try await servers.count() == 6 }
            }
            var visitor: [String: Int64] = [:]
            for document in try await servers.documents() {
                visitor[document["event_id"] as? String ?? ""] = (document["visitor_id"] as? NSNumber)?.int64Value
            }
            #expect(visitor["d1a"] != nil)
            #expect(visitor["d1a"] == visitor["d1b"])
            #expect(visitor["d2"] != visitor["d1a"])
            #expect(visitor["late"] == visitor["d2"])
            #expect(visitor["u1"] == visitor["u2"])
            let salts = try await servers.redis.send(RedisCommand("KEYS", servers.configuration.keys.prefix + "salt:*")).orThrow().elements ?? []
            #expect(salts.count == 3, "the two receive days, and the day before (a visit open at its midnight)")
            for salt in salts {
                let ttl = try await servers.redis.send(RedisCommand("PTTL", salt.string ?? "")).orThrow().int ?? -1
                #expect(ttl > 0, "a salt without a TTL")
            }
        }
    }

    @Test func placingABatchAgainGivesTheSameVisitsAndAFullTableStillPlacesEvents() async throws {
        try await TestServers.with { servers in
            let tracker = VisitTracker(redis: servers.redis, keys: servers.configuration.keys, maxPerBucket: 3, maxPerSite: 2)
            let google = VisitAttributes(TrafficSource(source: "Google", referrer: "google.com", utm: UTM()))
            let direct = VisitAttributes(TrafficSource(source: "Direct / None", referrer: nil, utm: UTM()))
            let t = Self.start
            let requests = [
                SessionRequest(siteID: "s", visitorID: 1, timestamp: t, freshID: 11, attributes: google),
                SessionRequest(siteID: "s", visitorID: 1, timestamp: t + 20 * Self.minute, freshID: 12, attributes: direct),
                SessionRequest(siteID: "s", visitorID: 2, timestamp: t, freshID: 21, attributes: direct),
                SessionRequest(siteID: "s", visitorID: 3, timestamp: t, freshID: 31, attributes: google),  // the site's quota is two
                SessionRequest(siteID: "other", visitorID: 4, timestamp: t, freshID: 41, attributes: direct),  // another site still gets one
                SessionRequest(siteID: "other", visitorID: 5, timestamp: t, freshID: 51, attributes: direct),  // the bucket holds three
            ]
            let received = requests.map(\.timestamp)
            let first = try await tracker.assign(requests, receivedAt: received)
            #expect(first.map(\.tracked) == [true, true, true, false, true, false])
            #expect(first.map(\.sessionID)[0..<3] == [11, 11, 21])
            #expect(first[4].sessionID == 41)
            #expect(first[1].attributes == google, "the visit keeps its first event's source")
            #expect(first[3].attributes == google, "an event placed without state keeps its own source")
            let again = try await tracker.assign(requests, receivedAt: received)
            #expect(again == first, "a redelivered batch must land in the same visits")
            let ttl = try await servers.redis.send(RedisCommand("PTTL", servers.configuration.keys.visits(bucket: VisitTracker.bucket(of: t))))
                .orThrow().int ?? -1
            #expect(ttl > 0 && ttl <= 3 * VisitTracker.sessionTimeoutMillis)
            // An event back-dated by more than two hours is placed without touching Redis.
            let old = SessionRequest(siteID: "s", visitorID: 9, timestamp: t - 3 * 3_600_000, freshID: 91, attributes: direct)
            #expect(try await tracker.assign([old], receivedAt: [t]).first?.tracked == false)
            let oldBucket = servers.configuration.keys.visits(bucket: VisitTracker.bucket(of: old.timestamp))
            #expect(try await servers.redis.send(RedisCommand("EXISTS", oldBucket)).orThrow().int == 0)
        }
    }

    @Test func anEarlierEventProcessedLaterGivesTheVisitItsSource() async throws {
        try await TestServers.with { servers in
            let tracker = VisitTracker(redis: servers.redis, keys: servers.configuration.keys, maxPerBucket: 100, maxPerSite: 100)
            let google = VisitAttributes(TrafficSource(source: "Google", referrer: "google.com", utm: UTM(campaign: "spring")))
            let direct = VisitAttributes(TrafficSource(source: "Direct / None", referrer: nil, utm: UTM()))
            let t = Self.start
            let second = SessionRequest(siteID: "s", visitorID: 1, timestamp: t + Self.minute, freshID: 12, attributes: direct)
            let landing = SessionRequest(siteID: "s", visitorID: 1, timestamp: t, freshID: 11, attributes: google)
            let third = SessionRequest(siteID: "s", visitorID: 1, timestamp: t + 2 * Self.minute, freshID: 13, attributes: direct)
            // Another worker's batch held the landing page: the second page is placed first.
            _ = try await tracker.assign([second], receivedAt: [t + Self.minute])
            let placed = try await tracker.assign([landing, third], receivedAt: [t, t + 2 * Self.minute])
            #expect(placed.map(\.sessionID) == [12, 12])
            #expect(placed.map(\.attributes) == [google, google], "the landing page's source is the visit's")
        }
    }

    @Test func aVisitOpenAtMidnightGoesOnUnderYesterdaysVisitor() async throws {
        try await TestServers.with { servers in
            let midnight: Int64 = 1_763_856_000_000 + 86_400_000  // 2025-11-24T00:00:00Z
            try await servers.queue.enqueue([
                captured(id: "before", at: midnight - 5 * Self.minute),
                captured(id: "after", at: midnight + 5 * Self.minute, url: "https://visits.example/next"),
                captured(id: "later", at: midnight + 70 * Self.minute, url: "https://visits.example/again"),
            ])
            try await servers.withWorker {
                try await eventually("three page views are stored") { try await servers.count() == 3 }
            }
            var byID: [String: [String: Any]] = [:]
            for document in try await servers.documents() { byID[document["event_id"] as? String ?? ""] = document }
            let value = { (id: String, field: String) in (byID[id]?[field] as? NSNumber)?.int64Value }
            #expect(value("before", "session_id") != nil)
            #expect(value("before", "session_id") == value("after", "session_id"), "the visit split at midnight")
            #expect(value("before", "visitor_id") == value("after", "visitor_id"))
            // A new visit after midnight is today's visitor.
            #expect(value("later", "session_id") != value("after", "session_id"))
            #expect(value("later", "visitor_id") != value("after", "visitor_id"))
        }
    }

    @Test func aVisitSpanningAWorkerKillKeepsOneSessionID() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let mongo = try ServerProcess.nx()
            try mongo.start()
            defer { mongo.stop() }
            let database = "mongodb://127.0.0.1:\(mongo.port)/visits"
            let store = try MongoStore(uri: database, maxClients: 2, appName: "tests", logger: servers.logger)
            defer { Task { await store.shutdown() } }
            let extra = ["MONGO_URI": database, "WORKER_BATCH_SIZE": "10", "HEARTBEAT_TTL_MS": "1000"]
            let doomed = try WorkerProcess(servers, extra: extra)
            try await servers.queue.enqueue([captured(id: "k1", at: Self.start)])
            try await eventually("the first page view is stored") { try await store.countAll() == 1 }
            // The second page view is claimed and placed in the visit, then the store hangs and the worker dies.
            mongo.send(SIGSTOP)
            try await servers.queue.enqueue([captured(id: "k2", at: Self.start + 12 * Self.minute, url: "https://visits.example/next")])
            try await eventually("the worker holds the second page view") {
                let lists = try await servers.redis.send(RedisCommand("KEYS", keys.processingPattern)).orThrow().elements ?? []
                guard let list = lists.first?.string else { return false }
                return try await servers.length(list) == 1
            }
            doomed.kill(signal: SIGKILL)
            mongo.send(SIGCONT)
            let survivor = try WorkerProcess(servers, extra: extra)
            try await eventually("the recovered page view is stored") { try await store.countAll() == 2 }
            await survivor.stop()
            await doomed.stop()
            let documents = try await store.aggregate(pipelineJSON: #"[{"$match": {}}]"#).map {
                try JSONSerialization.jsonObject(with: $0) as? [String: Any] ?? [:]
            }
            let sessions = Set(documents.compactMap { ($0["session_id"] as? NSNumber)?.int64Value })
            #expect(documents.count == 2)
            #expect(sessions.count == 1, "the visit split in two across the kill: \(documents)")
        }
    }
}

extension [UInt8] {
    /// The queued payload with `userid` set.
    func withUser(_ user: String) -> [UInt8] {
        guard var event = try? JSONDecoder().decode(Event.self, from: Data(self)) else { return self }
        event.userID = user
        return event.queuePayload
    }
}

extension MongoStore {
    /// Every stored document, counted.
    func countAll() async throws -> Int {
        let rows = try await aggregate(pipelineJSON: #"[{"$group": {"_id": null, "n": {"$sum": 1}}}]"#)
        guard let first = rows.first, let object = try JSONSerialization.jsonObject(with: first) as? [String: Any] else { return 0 }
        return (object["n"] as? NSNumber)?.intValue ?? 0
    }
}
