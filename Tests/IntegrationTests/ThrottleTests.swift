import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared
@testable import Worker

/// Content throttling on a real redis-server: seed 000's outcomes, each strategy at its edges
/// (the clock is injected: decisions take `now` as an argument), one global count for every
/// worker, exact totals in `/stats`.
@Suite(.serialized) struct ThrottleTests {
    /// A fake worker holding `events` in its processing list, registered alive, as a claim leaves them.
    struct Holder {
        let servers: TestServers
        let throttle: Throttle
        let worker = "w-" + String(UInt32.random(in: 0 ... .max), radix: 16)

        init(_ servers: TestServers) async throws {
            self.servers = servers
            throttle = Throttle(redis: servers.redis, keys: servers.configuration.keys)
            try await servers.queue.heartbeat(workers: [worker], ttl: .seconds(60))
        }

        /// Claims `events` into the processing list and decides them at `now`.
        func decide(_ events: [Event], rule: ThrottleRule, now: Int64, maxKeys: Int = 0, rememberedIDs: Int = 100) async throws -> [ThrottleOutcome] {
            let payloads = events.map(\.queuePayload)
            _ = try await servers.redis.send(RedisCommand("RPUSH", [servers.configuration.keys.processing(worker)], values: payloads)).orThrow()
            return try await throttle.decide(
                worker: worker, kept: [], candidates: zip(events, payloads).map { ThrottleCandidate(event: $0, payload: $1, rule: rule) },
                maxKeys: maxKeys, rememberedIDs: rememberedIDs, now: now)
        }

        /// The processing list after a decision.
        func processing() async throws -> [String] {
            try await servers.redis.send(RedisCommand("LRANGE", servers.configuration.keys.processing(worker), "0", "-1")).orThrow()
                .elements!.map { $0.string! }
        }

        /// Empties the processing list, as an acknowledgement does.
        func acknowledge() async throws {
            _ = try await servers.redis.send(RedisCommand("DEL", servers.configuration.keys.processing(worker))).orThrow()
        }
    }

    static func event(_ id: String, site: String = "s1", path: String = "/p", timestamp: Int64 = 1_763_856_000_000) -> Event {
        Event(eventID: id, siteID: site, eventType: "page_view", path: path, userID: "u1", timestamp: timestamp, receivedAt: timestamp)
    }

    static func events(_ count: Int, prefix: String = "e", timestamp: Int64 = 1_763_856_000_000) -> [Event] {
        (0..<count).map { event("\(prefix)\($0)", timestamp: timestamp) }
    }

    @Test func seed000QuickStartThroughThePipelineKeepsStatsExact() async throws {
        try await TestServers.with { servers in
            let throttle = Throttle(redis: servers.redis, keys: servers.configuration.keys)
            try await throttle.set(
                ThrottleRule(strategy: .fixedWindow(limit: 5, window: .seconds(3600)), deferInterval: .milliseconds(500)),
                for: ThrottleScope(siteID: "site-001", eventType: "page_view"))
            let dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
            let body = #"{"site_id":"site-001","event_type":"page_view","path":"/pricing","userid":"user-1","timestamp":"2025-11-23T16:44:31.123Z"}"#
            try await Application(router: buildRouter(dependencies)).test(.router) { client in
                for _ in 0..<7 {
                    try await client.execute(uri: "/event", method: .post, body: ByteBuffer(string: body)) { #expect($0.status == .accepted) }
                }
                try await servers.withWorkers(batchSize: 1) { _ in
                    try await eventually("five stored one by one and one summary") {
                        try await servers.count(#"{"throttled": true}"#) == 1
                    }
                }
                #expect(try await servers.count(#"{"count": 1, "throttled": {"$exists": false}}"#) == 5)
                let summary = try #require(try await servers.documents(#"{"throttled": true}"#).first)
                #expect((summary["count"] as? NSNumber)?.intValue == 2)
                #expect(summary["path"] as? String == "/pricing")
                try await client.execute(uri: "/stats?site_id=site-001&date=2025-11-23", method: .get) { response in
                    let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                    let stats = try #require(answer["stats"] as? [String: Any])
                    #expect(stats["total_views"] as? Int == 7)
                    #expect((stats["top_paths"] as? [[String: Any]])?.first?["views"] as? Int == 7)
                }
            }
            let counters = try await throttle.counters()
            #expect(counters["tracked"] == 7)
            #expect(counters["immediate"] == 5)
            #expect(counters["deferred"] == 1)
            #expect(counters["already_deferred"] == 1)
            #expect(counters["processed"] == 1)
        }
    }

    @Test func tokenBucketPassesABurstThenRefillsAtItsRate() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .tokenBucket(bucketSize: 3, refillRate: 2), deferInterval: .milliseconds(100))
            let t0: Int64 = 1_000_000
            #expect(try await holder.decide(Self.events(5, prefix: "a"), rule: rule, now: t0)
                == [.immediate, .immediate, .immediate, .deferred, .alreadyDeferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: t0 + 100).queued == 1)
            // 400 ms later: 0.8 of a token, still deferred; 500 ms: one token back.
            #expect(try await holder.decide([Self.event("b0")], rule: rule, now: t0 + 400) == [.deferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: t0 + 500).queued == 1)
            #expect(try await holder.decide(Self.events(2, prefix: "c"), rule: rule, now: t0 + 900) == [.immediate, .deferred])
        }
    }

    @Test func fixedWindowResetsAtTheWindowEdge() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 2, window: .seconds(1)), deferInterval: .milliseconds(1))
            #expect(try await holder.decide(Self.events(3, prefix: "a"), rule: rule, now: 5_999) == [.immediate, .immediate, .deferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: 6_000).queued == 1)
            #expect(try await holder.decide(Self.events(3, prefix: "b"), rule: rule, now: 6_000) == [.immediate, .immediate, .deferred])
        }
    }

    @Test func slidingWindowCountsTheLastWindowExactly() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .slidingWindow(limit: 2, window: .seconds(1)), deferInterval: .milliseconds(1))
            #expect(try await holder.decide([Self.event("a")], rule: rule, now: 10_000) == [.immediate])
            #expect(try await holder.decide([Self.event("b")], rule: rule, now: 10_500) == [.immediate])
            #expect(try await holder.decide([Self.event("c")], rule: rule, now: 10_999) == [.deferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: 11_000).queued == 1)
            // At 11 000 the event of 10 000 has left the window; the one of 10 500 has not.
            #expect(try await holder.decide([Self.event("d")], rule: rule, now: 11_000) == [.immediate])
            #expect(try await holder.decide([Self.event("e")], rule: rule, now: 11_001) == [.deferred])
        }
    }

    @Test func aSummaryNeverSpansTwoDays() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(86_400 * 30)), deferInterval: .seconds(60))
            let day: Int64 = 86_400_000
            let monday = Self.events(3, prefix: "mon", timestamp: 20_000 * day + 1000)
            let tuesday = Self.events(2, prefix: "tue", timestamp: 20_001 * day + 1000)
            #expect(try await holder.decide(monday + tuesday, rule: rule, now: 5_000)
                == [.immediate, .deferred, .alreadyDeferred, .deferred, .alreadyDeferred])
            // Two records, one per day, each standing for two events.
            #expect(try await holder.throttle.flushDue(now: 5_000 + 60_000).queued == 2)
            let queued = try await servers.redis.send(RedisCommand("LRANGE", servers.configuration.keys.queue, "0", "-1")).orThrow().elements!.map { $0.string! }
            #expect(queued.count == 2)
            #expect(queued.allSatisfy { $0.contains(#","count":2,"throttled":true,"summary_id":"#) })
            #expect(Set(queued.map { $0.contains("mon1") ? "mon" : $0.contains("tue0") ? "tue" : "?" }) == ["mon", "tue"])
        }
    }

    @Test func theProcessingListKeepsOnlyWhatMustStillBeStoredMarkedAsDecided() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            _ = try await holder.decide(Self.events(3), rule: rule, now: 1_000)
            // A worker killed now leaves only the immediate event behind, marked, so a recovery
            // stores it without counting it again; the other two live in the deferral record.
            let left = try await holder.processing()
            #expect(left.count == 1)
            #expect(left[0].contains(#""event_id":"e0""#) && left[0].hasSuffix(#","checked":true}"#))
            let decoded = PayloadDecoder.decode(left.map { Array($0.utf8) })
            #expect(decoded.events.first?.bypassesThrottle == true)
        }
    }

    @Test func aWorkerWhoseBatchWasRecoveredMayNotDecideIt() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(1)))
            _ = try await servers.redis.send(RedisCommand("RPUSH", [servers.configuration.keys.processing(holder.worker)], values: [Self.event("a").queuePayload])).orThrow()
            // Paused past its deadline: another worker recovers the batch.
            _ = try await servers.redis.send(RedisCommand("ZADD", servers.configuration.keys.workers, "0", holder.worker)).orThrow()
            #expect(try await servers.queue.recoverAbandoned().events == 1)
            await #expect(throws: RedisError.command("NOTOWNER the batch was recovered by another worker while this one was paused")) {
                _ = try await holder.throttle.decide(
                    worker: holder.worker, kept: [], candidates: [ThrottleCandidate(event: Self.event("a"), payload: Self.event("a").queuePayload, rule: rule)],
                    maxKeys: 0, now: 1)
            }
            #expect(try await holder.throttle.counters()["tracked"] == nil)
            // Told once: its next batch is its own again.
            #expect(try await holder.decide([Self.event("b")], rule: rule, now: 1) == [.immediate])
        }
    }

    @Test func pastMaxKeysEventsAreStoredAsTheyAreAndCounted() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            let distinct = (0..<3).map { Self.event("k\($0)", path: "/page\($0)") }
            #expect(try await holder.decide(distinct + [Self.event("k9", path: "/page2")], rule: rule, now: 1_000, maxKeys: 2)
                == [.immediate, .immediate, .keyLimitReached, .keyLimitReached])
            #expect(try await holder.processing().count == 4)
            // Tracked keys expire with their TTL: past it, there is room again.
            #expect(try await holder.decide([Self.event("k10", path: "/page2")], rule: rule, now: 1_000 + 86_400_001, maxKeys: 2) == [.immediate])
            #expect(try await holder.throttle.counters()["key_limit_reached"] == 2)
        }
    }

    @Test func twoWorkersShareOneCountAndARuleChangeNeedsNoRestart() async throws {
        try await TestServers.with { servers in
            let throttle = Throttle(redis: servers.redis, keys: servers.configuration.keys)
            try await servers.withWorkers(2, batchSize: 1) { workers in
                // No rule yet: everything is stored as it is.
                try await servers.queue.enqueue(Self.events(3, prefix: "before").map(\.queuePayload))
                try await eventually("stored unthrottled") { try await servers.count() == 3 }
                try await throttle.set(
                    ThrottleRule(strategy: .fixedWindow(limit: 3, window: .seconds(3600)), deferInterval: .milliseconds(300)),
                    for: ThrottleScope(siteID: "s1"))
                try await eventually("both workers apply the rule") {
                    workers.allSatisfy { $0.throttleSettings.withLockedValue { $0.rules.count } == 1 }
                }
                try await servers.queue.enqueue(Self.events(10, prefix: "after").map(\.queuePayload))
                try await eventually("three stored and one summary for seven") { try await servers.count(#"{"throttled": true}"#) == 1 }
            }
            #expect(try await servers.count(#"{"throttled": {"$exists": false}}"#) == 3 + 3)
            let summary = try #require(try await servers.documents(#"{"throttled": true}"#).first)
            #expect((summary["count"] as? NSNumber)?.intValue == 7)
            let counters = try await throttle.counters()
            #expect(counters["immediate"] == 3)
            #expect(counters["deferred"] == 1)
            #expect(counters["already_deferred"] == 6)
        }
    }

    @Test func adminCommandsSetShowAndDeleteRulesAndLimits() async throws {
        try await TestServers.with { servers in
            let set = try await WorkerProcess.run(servers, [
                "throttle", "set", "--site", "s1", "--event-type", "page_view", "--strategy", "token-bucket",
                "--bucket-size", "10", "--refill-rate", "2", "--defer-interval", "60s",
            ])
            #expect(set.status == 0, "\(set.output)")
            let rules = try await Throttle(redis: servers.redis, keys: servers.configuration.keys).rules()
            let rule = try #require(rules[ThrottleScope(siteID: "s1", eventType: "page_view")])
            #expect(rule.strategy.scriptParameters == ("bucket", 10, 2))
            #expect(rule.deferInterval == .seconds(60))
            let listed = try await WorkerProcess.run(servers, ["throttle", "list"])
            #expect(listed.output.contains(#"s1/page_view: {"strategy":"token-bucket","bucket_size":10,"refill_rate":2.0"#))
            let missing = try await WorkerProcess.run(servers, ["throttle", "set", "--site", "s1", "--strategy", "fixed-window", "--limit", "5"])
            #expect(missing.status != 0)
            #expect(missing.output.contains("fixed-window needs --window"))
            #expect(try await WorkerProcess.run(servers, ["throttle", "delete", "--site", "s1", "--event-type", "page_view"]).status == 0)
            #expect(try await WorkerProcess.run(servers, ["throttle", "get", "--site", "s1", "--event-type", "page_view"]).status != 0)

            #expect(try await WorkerProcess.run(servers, ["limits", "set", "--site", "s1", "--site-limit", "100/1s", "--user-limit", "10/1m"]).status == 0)
            let limits = try await RateLimitStore(redis: servers.redis, keys: servers.configuration.keys).all()
            #expect(limits["s1"] == RateLimits(site: RateLimit("100/1s"), user: RateLimit("10/1m")))
            #expect(try await WorkerProcess.run(servers, ["limits", "get", "--site", "s1"]).output.contains(#"{"site":"100/1s","user":"10/1m"}"#))
            #expect(try await WorkerProcess.run(servers, ["limits", "set", "--site", "s1", "--site-limit", "lots"]).status != 0)
            #expect(try await WorkerProcess.run(servers, ["limits", "delete", "--site", "s1"]).status == 0)
            #expect(try await Throttle(redis: servers.redis, keys: servers.configuration.keys).counters()["config_updated"] == 4)
        }
    }

    @Test func aSecondCopyOfAnEventIsNeitherStoredNorCountedAgain() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            // A client retry of e1, then of e2 (the deferred one), then e3 twice in one batch.
            let outcomes = try await holder.decide(
                [Self.event("e1"), Self.event("e1"), Self.event("e2"), Self.event("e2"), Self.event("e3"), Self.event("e3")], rule: rule, now: 1_000)
            #expect(outcomes == [.immediate, .duplicate, .deferred, .duplicate, .alreadyDeferred, .duplicate])
            #expect(try await holder.processing().count == 1)
            #expect(try await holder.throttle.flushDue(now: 1_000 + 3_600_000).queued == 1)
            let summary = try #require(try await servers.redis.send(RedisCommand("LINDEX", servers.configuration.keys.queue, "0")).orThrow().string)
            // e2 and e3: two events, stored under an id of its own, not e2's.
            #expect(summary.contains(#""count":2,"throttled":true,"summary_id":"summary:"#))
            let decoded = try #require(PayloadDecoder.decode([Array(summary.utf8)]).events.first)
            #expect(decoded.stored.event.eventID.hasPrefix("summary:") && decoded.stored.count == 2)
        }
    }

    @Test func aBatchWhoseDecisionAnswerWasLostIsClaimedAgainWithoutBeingCountedTwice() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            // The script ran but the worker never saw the answer: it gives the batch up and claims again.
            _ = try await holder.decide(Self.events(3), rule: rule, now: 1_000)
            let again = try await servers.queue.claim(worker: holder.worker, max: 10, wait: .milliseconds(100))
            let decoded = PayloadDecoder.decode(again)
            #expect(decoded.events.map(\.stored.event.eventID) == ["e0"])
            #expect(decoded.events.allSatisfy { $0.bypassesThrottle }, "what was decided is marked and never decided again")
            #expect(try await holder.throttle.counters()["tracked"] == 3)
            // No answer is cached per batch.
            let cached = try await servers.redis.send(RedisCommand("KEYS", servers.configuration.keys.controlPattern("throttle:batch:*"))).orThrow()
            #expect(cached.elements?.isEmpty == true)
        }
    }

    @Test func aClientRetryIsDroppedWhileItsIdentityRemembersItsIDAndCountedPastThat() async throws {
        try await TestServers.with { servers in
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            // The identity remembers the last two ids counted for it.
            #expect(try await holder.decide(Self.events(3), rule: rule, now: 1_000, rememberedIDs: 2) == [.immediate, .deferred, .alreadyDeferred])
            #expect(try await holder.decide([Self.event("e2")], rule: rule, now: 1_001, rememberedIDs: 2) == [.duplicate])
            #expect(try await holder.decide([Self.event("e1")], rule: rule, now: 1_002, rememberedIDs: 2) == [.duplicate])
            #expect(try await holder.decide([Self.event("e3")], rule: rule, now: 1_003, rememberedIDs: 2) == [.alreadyDeferred])
            // e1 is now the third id back: forgotten, so its retry is counted again.
            #expect(try await holder.decide([Self.event("e1")], rule: rule, now: 1_004, rememberedIDs: 2) == [.alreadyDeferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: 1_000 + 3_600_000).queued == 1)
            let summary = try #require(try await servers.redis.send(RedisCommand("LINDEX", servers.configuration.keys.queue, "0")).orThrow().string)
            #expect(summary.contains(#""count":4,"throttled":true"#), "e1, e2, e3 and the forgotten retry of e1")
        }
    }

    @Test func everyThrottleKeyHasATTLAndCountsAgainstTheCap() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let holder = try await Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)), deferInterval: .seconds(60))
            #expect(try await holder.decide(Self.events(3), rule: rule, now: 1_000, maxKeys: 10) == [.immediate, .deferred, .alreadyDeferred])
            let all = try await servers.redis.send(RedisCommand("KEYS", keys.controlPattern("throttle:*"))).orThrow().elements?.compactMap(\.string) ?? []
            #expect(!all.contains { $0.contains("throttle:seen:") || $0.contains("throttle:batch:") }, "no key per event or per batch: \(all)")
            for key in all where key.contains("throttle:state:") || key.contains("throttle:deferred:") || key.contains("throttle:ids:") {
                let ttl = try await servers.redis.send(RedisCommand("PTTL", key)).orThrow().int ?? -1
                #expect(ttl > 0, "\(key) has no TTL")
                if key.contains("deferred") { #expect(ttl <= 60_000 + Throttle.recordMargin.totalMilliseconds) }
            }
            #expect(try await servers.redis.send(RedisCommand("ZCARD", keys.throttleIndex)).orThrow().int == 2, "the counter and the record")
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: 61_000).queued == 1)
            #expect(try await servers.redis.send(RedisCommand("ZCARD", keys.throttleIndex)).orThrow().int == 1, "a flushed record leaves the index")
            // At the cap (the counter alone), a record cannot be opened: the event is stored as it is.
            #expect(try await holder.decide(Self.events(2, prefix: "x"), rule: rule, now: 61_000, maxKeys: 1) == [.immediate, .keyLimitReached])
        }
    }
}
