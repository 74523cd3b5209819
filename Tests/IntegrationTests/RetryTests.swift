import CMongoC
import Foundation
import Testing

@testable import Shared
@testable import Worker

/// Per-event store failures: refused for good → dead letter now; unknown → `et:retry` with
/// backoff, then dead after RETRY_MAX_ATTEMPTS. nx-27017 accepts every document real MongoDB
/// refuses ($-prefixed `_id` fields, validators), so the refusal itself cannot be provoked
/// here: the plan is tested as logic, the retry set on the real redis-server.
struct RetryTests {
    let backoff = FullJitterBackoff.fullJitter(base: .milliseconds(100), cap: .seconds(10))

    func serverError(_ code: UInt32) -> MongoError {
        MongoError(domain: MONGOC_ERROR_SERVER.rawValue, code: code, message: "refused", context: "insert")
    }

    @Test func refusedForWhatItIsGoesStraightToTheDeadLetters() {
        for code: UInt32 in [2, 52, 121, 10334] {
            #expect(FailurePlan.plan(for: serverError(code), previousAttempts: 0, maxAttempts: 5, backoff: backoff) == .deadLetter)
        }
    }

    @Test func anUnknownRefusalIsRetriedWithBackoffUntilTheLastAttempt() {
        for attempt in 0..<4 {
            guard case .retry(let delay) = FailurePlan.plan(for: serverError(9999), previousAttempts: attempt, maxAttempts: 5, backoff: backoff) else {
                Issue.record("attempt \(attempt + 1) of 5 was not retried")
                continue
            }
            #expect(delay <= backoff.ceiling(forAttempt: attempt))
        }
        #expect(FailurePlan.plan(for: serverError(9999), previousAttempts: 4, maxAttempts: 5, backoff: backoff) == .deadLetter)
    }

    @Test func aRetriedEventKeepsItsMarksAndCountsItsAttempts() throws {
        let summary = Array(#"{"event_id":"r1","site_id":"s","event_type":"page_view","path":"/","timestamp":5,"received_at":5,"count":7,"throttled":true}"#.utf8)
        var item = try #require(PayloadDecoder.decode([summary]).events.first)
        for attempt in 1...3 {
            let again = PayloadDecoder.decode([item.retryPayload(now: 1_000 * Int64(attempt))]).events
            item = try #require(again.first)
            #expect(item.attempts == attempt)
            #expect(item.firstFailedAt == 1_000)
            #expect(item.stored.count == 7 && item.stored.throttled && item.bypassesThrottle)
        }
    }

    @Test func retriesWaitInTheirSetUntilDueThenReturnToTheQueue() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let worker = "w-retry"
            _ = try await servers.redis.send(RedisCommand("RPUSH", [keys.processing(worker)], values: [Array("a".utf8), Array("b".utf8)])).orThrow()
            let acknowledged = try await servers.queue.acknowledge(
                worker: worker, deadLetters: [Array("dead".utf8)], retries: [(Array("b-retry".utf8), 5_000)])
            #expect(acknowledged)
            #expect(try await servers.length(keys.processing(worker)) == 0)
            #expect(try await servers.length(keys.dead) == 1)
            #expect(try await servers.queue.retryCount() == 1)
            #expect(try await servers.queue.promoteDueRetries(now: 4_999) == 0)
            #expect(try await servers.queue.promoteDueRetries(now: 5_000) == 1)
            #expect(try await servers.redis.send(RedisCommand("LRANGE", keys.queue, "0", "-1")).orThrow().elements?.compactMap(\.string) == ["b-retry"])
            #expect(try await servers.queue.retryCount() == 0)
        }
    }
}
