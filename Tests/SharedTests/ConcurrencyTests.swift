import NIOConcurrencyHelpers
import Testing

@testable import Shared

/// Deadlines cancel whichever side loses; the bounded gate refuses instead of queueing forever.
struct DeadlineTests {
    @Test func theOperationWinsAndTheTimerIsCancelled() async throws {
        let start = ContinuousClock.now
        let value = try await withDeadline(.seconds(30)) { 42 }
        #expect(value == 42)
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func theTimerWinsAndTheOperationIsCancelled() async throws {
        let sawCancellation = NIOLockedValueBox(false)
        let finished = AsyncStream<Void>.makeStream()
        await #expect(throws: DeadlineExceeded.self) {
            try await withDeadline(.milliseconds(50)) {
                defer { finished.continuation.finish() }
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    sawCancellation.withLockedValue { $0 = true }
                }
            }
        }
        for await _ in finished.stream {}  // the operation ended: it did not sleep its 30 s
        #expect(sawCancellation.withLockedValue { $0 })
    }

    @Test func anErrorOfTheOperationIsThrownAsItIs() async {
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await withDeadline(.seconds(5)) { throw Boom() } }
    }
}

struct BoundedGateTests {
    @Test func pastRunningAndWaitingACallerIsRefusedAtOnce() async throws {
        let gate = BoundedGate(maxRunning: 1, maxWaiting: 1, maxWait: .seconds(30))
        let release = AsyncStream<Void>.makeStream()
        let entered = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await gate.run {
                entered.continuation.yield()
                for await _ in release.stream {}
            }
        }
        for await _ in entered.stream { break }
        let waiter = Task { try await gate.run { 7 } }
        // The waiter is in line once a third caller is refused.
        var refused = false
        for _ in 0..<200 where !refused {
            do {
                _ = try await gate.run { 0 }
                Issue.record("a third caller ran while one ran and one waited")
            } catch BoundedGate.Refusal.full {
                refused = true
            } catch {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        #expect(refused)
        release.continuation.finish()
        try await holder.value
        #expect(try await waiter.value == 7)
        #expect(gate.running == 0)
    }

    @Test func aWaiterWhoseTurnDoesNotComeGivesUp() async throws {
        let gate = BoundedGate(maxRunning: 1, maxWaiting: 4, maxWait: .milliseconds(100))
        let release = AsyncStream<Void>.makeStream()
        let entered = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await gate.run {
                entered.continuation.yield()
                for await _ in release.stream {}
            }
        }
        for await _ in entered.stream { break }
        await #expect(throws: BoundedGate.Refusal.waitedTooLong) { try await gate.run { 1 } }
        release.continuation.finish()
        try await holder.value
        #expect(try await gate.run { 2 } == 2)
    }
}

struct RedisOutcomeTests {
    @Test func errorsAfterSendingMayHaveRunAndRefusalsDidNot() {
        #expect(RedisError.io("timeout").mayHaveRun)
        #expect(RedisError.closed("eof").mayHaveRun)
        #expect(RedisError.unexpectedReply("?").mayHaveRun)
        #expect(RedisError.command("ERR Error running script: boom").mayHaveRun)
        #expect(!RedisError.connectFailed("refused").mayHaveRun)
        #expect(!RedisError.unavailable("backing off").mayHaveRun)
        #expect(!RedisError.shutdown.mayHaveRun)
        #expect(!RedisError.command("OOM command not allowed when used memory > 'maxmemory'").mayHaveRun)
        #expect(!RedisError.command("READONLY You can't write against a read only replica.").mayHaveRun)
        #expect(!RedisError.command("NOSCRIPT No matching script").mayHaveRun)
    }
}
