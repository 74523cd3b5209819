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
                    #expect(response.headers[.contentLength] == String(PackageResources.script_js.count), "HEAD says what GET sends")
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
                #expect(try await servers.queued() == 0, "a bot's event reached the queue")
                // Server-side senders of /event (curl, as in seed 004's sample) are not bots.
                let curl = try await post(client, "/event", ours, userAgent: "curl/8.5.0")
                #expect(curl.status == .accepted)
                #expect(curl.headers[.pipelineDropped] == nil)
                #expect(try await servers.queued() == 1)
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
            #expect(try await servers.queued() == 0)
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
