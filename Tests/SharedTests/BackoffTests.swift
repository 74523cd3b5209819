import NIOCore
import Testing

@testable import Shared

/// A generator with a fixed sequence, so draws are repeatable.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}

/// Full-jitter backoff: every delay lies in `0 ... min(cap, base · 2^attempt)`.
struct BackoffTests {
    let backoff: FullJitterBackoff = .fullJitter(base: .milliseconds(100), cap: .seconds(30))

    @Test func ceilingDoublesUntilTheCap() {
        #expect(backoff.ceiling(forAttempt: 0) == .milliseconds(100))
        #expect(backoff.ceiling(forAttempt: 1) == .milliseconds(200))
        #expect(backoff.ceiling(forAttempt: 5) == .milliseconds(3200))
        #expect(backoff.ceiling(forAttempt: 9) == .seconds(30))
        #expect(backoff.ceiling(forAttempt: 1000) == .seconds(30))
    }

    @Test func delaysStayWithinBoundsAndSpreadOut() {
        var generator = SeededGenerator(state: 42)
        for attempt in 0..<20 {
            let ceiling = backoff.ceiling(forAttempt: attempt)
            let draws = (0..<200).map { _ in backoff.delay(forAttempt: attempt, using: &generator) }
            #expect(draws.allSatisfy { $0 >= .zero && $0 <= ceiling })
            // Full jitter: draws use the whole range, not just the top.
            #expect(draws.contains { $0 < ceiling / 2 })
            #expect(draws.contains { $0 > ceiling / 2 })
        }
    }
}

/// Decorrelated jitter: each delay between `base` and three times the previous one, capped.
struct DecorrelatedJitterTests {
    let backoff: DecorrelatedJitterBackoff = .decorrelatedJitter(base: .milliseconds(100), cap: .seconds(10))

    @Test func delaysStayBetweenBaseAndThreeTimesThePreviousUpToTheCap() {
        var generator = SeededGenerator(state: 7)
        var previous: Duration?
        var seen: [Duration] = []
        for attempt in 0..<40 {
            let delay = backoff.delay(forAttempt: attempt, previous: previous, using: &generator)
            #expect(delay >= .milliseconds(100))
            #expect(delay <= min(.seconds(10), (previous ?? .milliseconds(100)) * 3))
            seen.append(delay)
            previous = delay
        }
        #expect(seen.contains { $0 > .seconds(1) }, "delays grow")
        #expect(Set(seen).count > 30, "and are spread")
    }

    @Test func aScheduleFeedsEachDelayIntoTheNextAndStartsOverOnReset() {
        var schedule = BackoffSchedule(backoff)
        let first = schedule.next()
        #expect(first <= .milliseconds(300))
        let second = schedule.next()
        #expect(second <= first * 3 || second <= .milliseconds(100))
        #expect(schedule.attempt == 2)
        schedule.reset()
        #expect(schedule.attempt == 0)
        #expect(backoff.ceiling(forAttempt: 2) == .milliseconds(900))
        #expect(backoff.ceiling(forAttempt: 10) == .seconds(10))
    }
}

/// Reconnects after failed connects: 50 ms, doubling per failure, never more than 2 s; calls
/// meanwhile are refused with the last error.
struct ConnectBackoffTests {
    @Test func reconnectsBackOffFrom50MillisecondsTo2Seconds() {
        var backoff = ConnectBackoff()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)  // a fixed clock: no stall between lines can fail it
        #expect(backoff.refusal(at: start) == nil, "nothing failed: connect")
        backoff.failed(.connectFailed("refused"), at: start)
        #expect(backoff.refusal(at: start) == RedisError.connectFailed("refused").description)
        #expect(backoff.refusal(at: start + .milliseconds(49)) != nil)
        #expect(backoff.refusal(at: start + .milliseconds(50)) == nil)
        for _ in 0..<9 { backoff.failed(.connectFailed("refused"), at: start) }
        #expect(backoff.refusal(at: start + .milliseconds(1_999)) != nil)
        #expect(backoff.refusal(at: start + .milliseconds(2_000)) == nil, "capped at 2 s")
        let ended = backoff.succeeded()
        #expect(ended, "a connect after failures is worth a log line")
        let again = backoff.succeeded()
        #expect(!again)
        #expect(backoff.failures == 0)
    }
}
