import NIOConcurrencyHelpers

/// Admission to a limited resource: at most `maxRunning` operations at once and at most
/// `maxWaiting` waiting for a turn; past that a caller is refused at once, and a waiter whose
/// turn does not come within `maxWait` gives up. Memory and waiting are both bounded.
public final class BoundedGate: Sendable {
    /// Why an operation was not run.
    public enum Refusal: Error, Sendable, Equatable {
        /// `maxRunning` run and `maxWaiting` wait already.
        case full
        /// No turn came within `maxWait`.
        case waitedTooLong
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var running = 0
        var waiting: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let maxRunning: Int
    private let maxWaiting: Int
    private let maxWait: Duration
    private let state = NIOLockedValueBox(State())

    /// A gate for `maxRunning` at once, `maxWaiting` queued, each waiting at most `maxWait`.
    public init(maxRunning: Int, maxWaiting: Int, maxWait: Duration) {
        self.maxRunning = max(1, maxRunning)
        self.maxWaiting = max(0, maxWaiting)
        self.maxWait = maxWait
    }

    /// Operations running now.
    public var running: Int { state.withLockedValue { $0.running } }

    /// Runs `operation` when a turn is free; throws `Refusal` without running it otherwise.
    public func run<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await operation()
    }

    private enum Decision {
        case run, refuse(any Error), queued
    }

    private func acquire() async throws {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        // Started only once the waiter is in line, so it can never fire too early to find it.
        let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
        defer { timer.withLockedValue { $0?.cancel() } }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // One decision under the lock: a turn freed in between cannot be missed.
                let decision: Decision = state.withLockedValue { state in
                    if Task.isCancelled { return .refuse(CancellationError()) }
                    if state.running < maxRunning {
                        state.running += 1
                        return .run
                    }
                    if state.waiting.count >= maxWaiting { return .refuse(Refusal.full) }
                    state.waiting.append(Waiter(id: id, continuation: continuation))
                    return .queued
                }
                switch decision {
                case .run: continuation.resume()
                case .refuse(let error): continuation.resume(throwing: error)
                case .queued:  // resumed by `release`, by cancellation, or here when the wait is too long
                    let maxWait = self.maxWait
                    timer.withLockedValue {
                        $0 = Task {
                            try? await Task.sleep(for: maxWait)
                            if !Task.isCancelled { self.abandon(id, because: Refusal.waitedTooLong) }
                        }
                    }
                }
            }
        } onCancel: {
            self.abandon(id, because: CancellationError())
        }
    }

    /// Takes waiter `id` out of the line, if it is still there, and resumes it with `error`.
    private func abandon(_ id: UInt64, because error: any Error) {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiting.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// Hands the turn to the first waiter, or frees it.
    private func release() {
        let next = state.withLockedValue { state -> Waiter? in
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()  // the turn passes on: `running` stays
        }
        next?.continuation.resume()
    }
}
