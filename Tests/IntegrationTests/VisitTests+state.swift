import Foundation
import Testing

@testable import Shared

/// Visits and visitors as the worker keeps them: sessions, salts, caps, kills.
extension VisitTests {
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
            let salts = try await servers.redis.send(RedisCommand("KEYS", servers.configuration.keys.saltPattern)).orThrow().elements ?? []
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
            #expect(ttl > 0 && ttl <= VisitTracker.bucketTTLMillis)
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
            // One batch holding a visit's events out of order still chains them into one visit.
            let a = SessionRequest(siteID: "s", visitorID: 2, timestamp: t, freshID: 21, attributes: direct)
            let c = SessionRequest(siteID: "s", visitorID: 2, timestamp: t + 59 * Self.minute, freshID: 23, attributes: direct)
            let b = SessionRequest(siteID: "s", visitorID: 2, timestamp: t + 29 * Self.minute, freshID: 22, attributes: direct)
            let chained = try await tracker.assign([a, c, b], receivedAt: [t, t + 59 * Self.minute, t + 29 * Self.minute])
            #expect(chained.map(\.sessionID) == [21, 21, 21])
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
                let lists = try await servers.processingLists()
                guard let list = lists.first else { return false }
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
