import NIOConcurrencyHelpers
import Testing

@testable import Shared

/// Deadlines cancel whichever side loses; the bounded gate refuses instead of queueing forever.
struct DeadlineTests {
    /// A timer left running would hold `withDeadline` for its hour, past the test's time limit
    /// (a bound on behaviour, not a measurement: a loaded machine takes seconds, not an hour).
    @Test(.timeLimit(.minutes(1))) func theOperationWinsAndTheTimerIsCancelled() async throws {
        let value = try await withDeadline(.seconds(3600)) { 42 }
        #expect(value == 42)
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
    /// Takes the gate's only turn until `release` finishes; returns once the turn is taken.
    static func occupy(_ gate: BoundedGate) async -> (holder: Task<Void, any Error>, release: AsyncStream<Void>.Continuation) {
        let release = AsyncStream<Void>.makeStream()
        let entered = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await gate.run {
                entered.continuation.yield()
                for await _ in release.stream {}
            }
        }
        for await _ in entered.stream { break }
        return (holder, release.continuation)
    }

    @Test func pastRunningAndWaitingACallerIsRefusedAtOnce() async throws {
        let gate = BoundedGate(maxRunning: 1, maxWaiting: 1, maxWait: .seconds(30))
        let (holder, release) = await Self.occupy(gate)
        // Two more callers: one takes the only place in line, the other is refused at once.
        // While the holder runs, only a refusal can finish.
        let finished = AsyncStream<Result<Int, any Error>>.makeStream()
        for value in [7, 8] {
            Task {
                let result = await Task { try await gate.run { value } }.result
                finished.continuation.yield(result)
            }
        }
        var results = finished.stream.makeAsyncIterator()
        let first = await results.next()
        guard case .failure(let error) = first, case .full = error as? BoundedGate.Refusal else {
            Issue.record("expected an immediate refusal, got \(String(describing: first))")
            release.finish()
            return
        }
        release.finish()
        try await holder.value
        let second = await results.next()
        #expect([7, 8].contains((try? second?.get()) ?? 0))
        #expect(gate.running == 0)
    }

    @Test func aWaiterWhoseTurnDoesNotComeGivesUp() async throws {
        let gate = BoundedGate(maxRunning: 1, maxWaiting: 4, maxWait: .milliseconds(100))
        let (holder, release) = await Self.occupy(gate)
        await #expect(throws: BoundedGate.Refusal.waitedTooLong) { try await gate.run { 1 } }
        release.finish()
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
