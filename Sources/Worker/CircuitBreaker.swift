import NIOConcurrencyHelpers

/// Opens after `threshold` consecutive transient store failures: while open the worker claims
/// nothing (events wait in the Redis queue, the buffer) and probes MongoDB with `ping`; the
/// first success closes it.
final class CircuitBreaker: Sendable {
    private let threshold: Int
    private let state = NIOLockedValueBox(State())

    private struct State {
        var consecutiveFailures = 0
        var isOpen = false
    }

    /// A closed breaker that opens after `threshold` failures in a row.
    init(threshold: Int) {
        self.threshold = max(1, threshold)
    }

    /// Whether claiming is paused.
    var isOpen: Bool { state.withLockedValue { $0.isOpen } }

    /// Transient failures since the last success.
    var consecutiveFailures: Int { state.withLockedValue { $0.consecutiveFailures } }

    /// Counts a transient failure; true when this one opened the breaker.
    func recordFailure() -> Bool {
        state.withLockedValue { state in
            state.consecutiveFailures += 1
            guard !state.isOpen, state.consecutiveFailures >= threshold else { return false }
            state.isOpen = true
            return true
        }
    }

    /// Counts a success (a store or a probe); true when this one closed the breaker.
    func recordSuccess() -> Bool {
        state.withLockedValue { state in
            state.consecutiveFailures = 0
            defer { state.isOpen = false }
            return state.isOpen
        }
    }
}
