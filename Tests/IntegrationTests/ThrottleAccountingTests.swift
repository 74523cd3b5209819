import Testing

@testable import Shared
@testable import Worker

/// What throttling counts when clients retry and when records outlive their flush.
struct ThrottleAccountingTests {
    /// A client that retries after a timeout while its stream is over the limit: the first copy
    /// was stored, so the retry must not be counted into the summary as one more event.
    @Test func aRetryOfAStoredEventIsNotCountedAgain() async throws {
        try await TestServers.with { servers in
            let holder = try await ThrottleTests.Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)))
            #expect(try await holder.decide([ThrottleTests.event("e0")], rule: rule, now: 1_000) == [.immediate])
            #expect(try await holder.decide([ThrottleTests.event("e0"), ThrottleTests.event("e1")], rule: rule, now: 1_001) == [.duplicate, .deferred])
            try await holder.acknowledge()
            #expect(try await holder.throttle.flushDue(now: 1_001 + 3_600_000).queued == 1)
            let summary = try #require(try await servers.redis.send(RedisCommand("LINDEX", servers.configuration.keys.queue, "0")).orThrow().bytes)
            let (event, marks) = try QueueEnvelope.decode(summary)
            #expect(event.eventID == "e1" && marks.throttled && marks.count == 1, "only e1 is in the summary: \(String(decoding: summary, as: UTF8.self))")
        }
    }

    /// A deferral record that is gone when its summary is due (all workers away for days, or a
    /// Redis restored from an old file) is reported, never dropped in silence.
    @Test func aRecordGoneBeforeItsFlushIsCountedAsLost() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let holder = try await ThrottleTests.Holder(servers)
            let rule = ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(60)), deferInterval: .seconds(60))
            #expect(try await holder.decide(ThrottleTests.events(3), rule: rule, now: 1_000) == [.immediate, .deferred, .alreadyDeferred])
            try await holder.acknowledge()
            let records = try await servers.redis.send(RedisCommand("KEYS", keys.controlPattern("throttle:deferred:*"))).orThrow().elements?.compactMap(\.string) ?? []
            #expect(records.count == 1)
            for record in records { _ = try await servers.redis.send(RedisCommand("DEL", record)).orThrow() }
            let flushed = try await holder.throttle.flushDue(now: 61_000)
            #expect(flushed.queued == 0 && flushed.lost == 1)
            #expect(try await holder.throttle.counters()["summary_lost"] == 1)
            #expect(try await servers.queued() == 0)
        }
    }
}
