import NIOConcurrencyHelpers
import ServiceLifecycle

/// The result of `work`, or nil when graceful shutdown began `grace` ago and `work` has still
/// not answered. A healthy server answers within the grace, so the batch in hand is finished as
/// promised; a hung one (which holds a blocking libmongoc call for its socket timeout, 30 s by
/// default) cannot keep SIGTERM waiting. Abandoned work goes on by itself and its result is
/// dropped: the caller hands its batch back, and a late insert is a duplicate, a no-op.
func unlessShutdown<T: Sendable, E: Error>(
    grace: Duration = .seconds(2), _ work: @escaping @Sendable () async throws(E) -> T
) async -> Result<T, E>? {
    let race = NIOLockedValueBox(ShutdownRace<T, E>())
    /// Gives up on the work now: shutdown's grace ran out, or the caller was cancelled.
    @Sendable func abandon() {
        let waiting = race.withLockedValue { race -> CheckedContinuation<Result<T, E>?, Never>? in
            race.shutdown = true
            return race.take()
        }
        waiting?.resume(returning: nil)
    }
    return await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, E>?, Never>) in
                let abandonedFirst = race.withLockedValue { race -> Bool in  // the grace ran out before the work began
                    if race.shutdown { return true }
                    race.continuation = continuation
                    return false
                }
                if abandonedFirst {
                    continuation.resume(returning: nil)
                    return
                }
                Task {
                    let result: Result<T, E>
                    do throws(E) { result = .success(try await work()) } catch { result = .failure(error) }
                    race.withLockedValue { $0.take() }?.resume(returning: result)
                }
            }
        } onGracefulShutdown: {
            Task {
                try? await Task.sleep(for: grace)
                abandon()
            }
        }
    } onCancel: {
        abandon()  // cancelled without a graceful shutdown (a failing sibling service): no grace
    }
}

/// Who resumes the caller of `unlessShutdown`: the first of the work and the shutdown.
private struct ShutdownRace<T: Sendable, E: Error> {
    var continuation: CheckedContinuation<Result<T, E>?, Never>?
    var shutdown = false

    /// The continuation, once: later callers get nil.
    mutating func take() -> CheckedContinuation<Result<T, E>?, Never>? {
        defer { continuation = nil }
        return continuation
    }
}
