import NIOConcurrencyHelpers

/// `operation` did not finish within its deadline.
public struct DeadlineExceeded: Error, Sendable, Equatable, CustomStringConvertible {
    /// The limit that passed.
    public let limit: Duration

    /// What happened and what it means.
    public var description: String { "no answer within \(limit.totalMilliseconds) ms; the operation was cancelled" }
}

/// Runs `operation` with a deadline: its result if it finishes within `limit`, else
/// `DeadlineExceeded`. Whichever loses the race is cancelled at once: the timer when the
/// operation wins (no sleeping task is left behind), the operation when the timer wins. The
/// caller is not held up by an operation that ignores cancellation (a blocking C call on a
/// thread of its own): that operation finishes on its own, bounded by its own timeouts, and
/// its result is dropped. Cancelling the caller cancels both.
public func withDeadline<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.start(continuation: continuation, limit: limit, operation: operation)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The state of one `withDeadline` race: the first finisher resumes the caller and cancels the rest.
final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var tasks: [Task<Void, Never>] = []
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    /// Starts the operation and the timer.
    func start(continuation: CheckedContinuation<T, any Error>, limit: Duration, operation: @escaping @Sendable () async throws -> T) {
        let alreadyCancelled = state.withLockedValue { state -> Bool in
            if state.finished { return true }
            state.continuation = continuation
            return false
        }
        if alreadyCancelled {
            continuation.resume(throwing: CancellationError())
            return
        }
        let work = Task {
            do { self.finish(.success(try await operation())) } catch { self.finish(.failure(error)) }
        }
        let timer = Task {
            do {
                try await Task.sleep(for: limit)
                self.finish(.failure(DeadlineExceeded(limit: limit)))
            } catch {}  // cancelled: the operation won
        }
        let lateStart = state.withLockedValue { state -> Bool in
            state.tasks = [work, timer]
            return state.finished
        }
        if lateStart { work.cancel(); timer.cancel() }
    }

    /// Resumes the caller with `result` if nobody has yet, and cancels both tasks.
    func finish(_ result: Result<T, any Error>) {
        let (continuation, tasks) = state.withLockedValue { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
            guard !state.finished else { return (nil, []) }
            state.finished = true
            defer { state.continuation = nil }
            return (state.continuation, state.tasks)
        }
        for task in tasks { task.cancel() }
        continuation?.resume(with: result)
    }
}
