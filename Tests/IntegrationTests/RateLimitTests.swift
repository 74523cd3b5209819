import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import IngestAPI
@testable import Shared

/// Rate limits at ingest, checked and enqueued in one Redis round trip: what a client over
/// the limit sees, and that a refused event is never queued.
struct RateLimitTests {
    /// Runs `body` against a live server (real sockets, so the client address is the peer's).
    func withServer(
        defaults: RateLimits, trustedProxies: Int = 0,
        _ body: @Sendable (any TestClientProtocol, TestServers, RateLimitPolicy) async throws -> Void
    ) async throws {
        let servers = try TestServers()
        let policy = RateLimitPolicy(
            defaults: defaults, store: RateLimitStore(redis: servers.redis, keys: servers.configuration.keys),
            trustedProxies: trustedProxies, logger: servers.logger)
        await policy.reload()
        var dependencies = IngestDependencies(
            queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2, limits: policy)
        dependencies.metricsAccess = MetricsAccess(token: "rate-limit-tests")
        try await Application(router: buildRouter(dependencies)).test(.live) { client in
            try await body(client, servers, policy)
        }
        await servers.shutdown()
    }

    static func event(site: String = "s1", user: String = "u1") -> ByteBuffer {
        ByteBuffer(string: #"{"site_id":"\#(site)","event_type":"page_view","path":"/","userid":"\#(user)"}"#)
    }

    @Test func overTheLimitAnswers429WithRetryAfterAndQueuesNothing() async throws {
        try await withServer(defaults: RateLimits(site: RateLimit("2/1m"))) { client, servers, _ in
            for remaining in [1, 0] {
                try await client.execute(uri: "/event", method: .post, body: Self.event()) { response in
                    #expect(response.status == .accepted)
                    #expect(response.headers[HTTPFields.Element.Name("RateLimit-Limit")!] == "2")
                    #expect(response.headers[HTTPFields.Element.Name("RateLimit-Remaining")!] == String(remaining))
                }
            }
            try await client.execute(uri: "/event", method: .post, body: Self.event()) { response in
                #expect(response.status == .tooManyRequests)
                // One event per 30 s comes back: the next is allowed 30 s after the first event,
                // so 29 when a loaded machine took over a second for the three requests.
                let retryAfter = try #require(response.headers[.retryAfter].flatMap { Int($0) })
                #expect((28...30).contains(retryAfter))
                #expect(response.headers[HTTPFields.Element.Name("RateLimit-Remaining")!] == "0")
                #expect(response.headers[HTTPFields.Element.Name("RateLimit-Reset")!] == String(retryAfter))
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect((answer["error"] as? [String: Any])?["code"] as? String == "RATE_LIMITED")
            }
            #expect(try await servers.queued() == 2)
            // Another site has its own count.
            try await client.execute(uri: "/event", method: .post, body: Self.event(site: "s2")) { #expect($0.status == .accepted) }
        }
    }

    @Test(arguments: [6, 15, 18, 7])
    func aBurstOfExactlyTheLimitPasses(limit: Int) async throws {
        try await withServer(defaults: RateLimits(site: RateLimit(limit: limit, period: .seconds(60)))) { client, _, _ in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0...limit {
                statuses.append(try await client.execute(uri: "/event", method: .post, body: Self.event()) { $0.status })
            }
            #expect(statuses == Array(repeating: .accepted, count: limit) + [.tooManyRequests])
        }
    }

    @Test func allowedAgainOnceRetryAfterHasPassed() async throws {
        try await withServer(defaults: RateLimits(user: RateLimit("1/1s"))) { client, servers, _ in
            try await client.execute(uri: "/event", method: .post, body: Self.event()) { #expect($0.status == .accepted) }
            let refused = ContinuousClock.now
            let retryAfter = try await client.execute(uri: "/event", method: .post, body: Self.event()) { response in
                #expect(response.status == .tooManyRequests)
                return Int(response.headers[.retryAfter] ?? "") ?? -1
            }
            #expect(retryAfter == 1)
            // Another user of the same site is not held back.
            try await client.execute(uri: "/event", method: .post, body: Self.event(user: "u2")) { #expect($0.status == .accepted) }
            try await eventually("a 202 for the limited user again") {
                try await client.execute(uri: "/event", method: .post, body: Self.event()) { $0.status == .accepted }
            }
            #expect(ContinuousClock.now - refused > .milliseconds(500))
            #expect(try await servers.queued() == 3)
        }
    }

    @Test func aForgedForwardedForDoesNotEscapeThePerAddressLimit() async throws {
        try await withServer(defaults: RateLimits(address: RateLimit("2/1m"))) { client, _, _ in
            var statuses: [HTTPResponse.Status] = []
            for forged in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
                let headers: HTTPFields = [HTTPFields.Element.Name("X-Forwarded-For")!: forged]
                statuses.append(try await client.execute(uri: "/event", method: .post, headers: headers, body: Self.event(user: forged)) { $0.status })
            }
            #expect(statuses == [.accepted, .accepted, .tooManyRequests])
        }
    }

    @Test func behindATrustedProxyTheAddressItAddedIsLimited() async throws {
        try await withServer(defaults: RateLimits(address: RateLimit("1/1m")), trustedProxies: 1) { client, _, _ in
            // The proxy appends the real client; what the client wrote before it is ignored.
            var statuses: [HTTPResponse.Status] = []
            for forwarded in ["9.9.9.9, 10.0.0.1", "8.8.8.8, 10.0.0.1", "10.0.0.2"] {
                let headers: HTTPFields = [HTTPFields.Element.Name("X-Forwarded-For")!: forwarded]
                statuses.append(try await client.execute(uri: "/event", method: .post, headers: headers, body: Self.event()) { $0.status })
            }
            #expect(statuses == [.accepted, .tooManyRequests, .accepted])
        }
    }

    @Test func aBatchQueuesWhatTheLimitAllowsAndListsTheRest() async throws {
        try await withServer(defaults: RateLimits()) { client, servers, policy in
            // No default: a per-site limit set at runtime (as `Worker limits set` does).
            try await RateLimitStore(redis: servers.redis, keys: servers.configuration.keys).set(RateLimits(site: RateLimit("3/1m")), site: "s1")
            await policy.reload()
            let batch = "[" + (0..<5).map { _ in #"{"site_id":"s1","event_type":"click"}"# }.joined(separator: ",") + "]"
            try await client.execute(uri: "/events", method: .post, body: ByteBuffer(string: batch)) { response in
                #expect(response.status == .accepted)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect(answer["accepted"] as? Int == 3)
                let rejected = try #require(answer["rejected"] as? [[String: Any]])
                #expect(rejected.map { $0["index"] as? Int } == [3, 4])
                #expect(rejected.allSatisfy { ($0["error"] as? [String: Any])?["code"] as? String == "RATE_LIMITED" })
            }
            try await client.execute(uri: "/events", method: .post, body: ByteBuffer(string: batch)) { #expect($0.status == .tooManyRequests) }
            #expect(try await servers.queued() == 3)
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer rate-limit-tests"]) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"pipeline_rate_limited_total{scope="site"} 7"#))
                #expect(text.contains(#"rate_limited_total{scope="site"}"#))
            }
        }
    }
}

/// Backpressure: above the queue's high-water mark ingest refuses with 503 instead of letting Redis grow.
struct BackpressureTests {
    @Test(arguments: [false, true])
    func aFullQueueAnswers503AndQueuesNothing(rateLimited: Bool) async throws {
        let servers = try TestServers()
        let policy = RateLimitPolicy(
            defaults: rateLimited ? RateLimits(site: RateLimit("1000/1s")) : RateLimits(),
            store: RateLimitStore(redis: servers.redis, keys: servers.configuration.keys), trustedProxies: 0, logger: servers.logger)
        // One list, whatever the suite's shards: with N shards each holds its part of QUEUE_MAX, and
        // which one a push lands on is random.
        let queue = ReliableQueue(redis: servers.redis, keys: servers.configuration.keys.with(shardCount: 1))
        var dependencies = IngestDependencies(
            queue: queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 1, limits: policy)
        dependencies.queueMax = 3
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/event", method: .post, body: RateLimitTests.event()) { #expect($0.status == .accepted) }
            }
            try await client.execute(uri: "/event", method: .post, body: RateLimitTests.event()) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect((answer["error"] as? [String: Any])?["code"] as? String == "QUEUE_FULL")
            }
            try await client.execute(uri: "/events", method: .post, body: ByteBuffer(string: #"[{"site_id":"s1","event_type":"click"}]"#)) {
                #expect($0.status == .serviceUnavailable)
            }
            #expect(try await servers.queued() == 3)
            // Workers catch up: accepted again.
            _ = try await servers.redis.send(RedisCommand("RPOP", servers.configuration.keys.queue)).orThrow()
            try await client.execute(uri: "/event", method: .post, body: RateLimitTests.event()) { #expect($0.status == .accepted) }
        }
        await servers.shutdown()
    }

    @Test func pastTheKeyCapANewKeyIsAdmittedUntrackedAndCounted() async throws {
        let servers = try TestServers()
        let keys = servers.configuration.keys
        let limit = RateLimit(limit: 1, period: .seconds(60))
        func item(_ user: String) -> QueueItem { QueueItem(payload: Array(user.utf8), limits: [(.user, "s1:" + user, limit)]) }
        // Two keys fit; the third user is admitted without being tracked, every time.
        let first = try #require(try await servers.queue.enqueue(admitting: [item("a"), item("b"), item("c")], now: 1_000, maxKeys: 2))
        #expect(first.admissions.map(\.allowed) == [true, true, true])
        let again = try #require(try await servers.queue.enqueue(admitting: [item("a"), item("c")], now: 1_001, maxKeys: 2))
        #expect(again.admissions.map(\.allowed) == [false, true], "a tracked key is still limited; an untracked one fails open")
        #expect(try await servers.redis.send(RedisCommand("ZCARD", keys.rateLimitIndex)).orThrow().int == 2)
        #expect(try await servers.redis.send(RedisCommand("EXISTS", keys.rateLimit("user:s1:c"))).orThrow().int == 0)
        let counters = try await Throttle(redis: servers.redis, keys: keys).counters()
        #expect(counters["rate_untracked"] == 2)
        // Tracked keys carry a TTL; once expired (by the scores' clock) they make room again.
        #expect((try await servers.redis.send(RedisCommand("PTTL", keys.rateLimit("user:s1:a"))).orThrow().int ?? -1) > 0)
        let later = try #require(try await servers.queue.enqueue(admitting: [item("c")], now: 1_000 + 120_000, maxKeys: 2))
        #expect(later.admissions.map(\.allowed) == [true])
        #expect(try await servers.redis.send(RedisCommand("EXISTS", keys.rateLimit("user:s1:c"))).orThrow().int == 1)
        await servers.shutdown()
    }
}
