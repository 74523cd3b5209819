/// How long to wait before retry number `attempt` (0 for the first retry).
public protocol BackoffStrategy: Sendable {
    /// The delay before retry `attempt`, drawn with `generator`.
    func delay(forAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration
    /// The largest delay `delay(forAttempt:)` can return for `attempt`.
    func ceiling(forAttempt attempt: Int) -> Duration
}

extension BackoffStrategy {
    /// The delay before retry `attempt`, from the system's random generator.
    public func delay(forAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(forAttempt: attempt, using: &generator)
    }
}

/// Exponential backoff with full jitter (AWS, "Exponential Backoff And Jitter"): a uniform
/// draw in `0 ... min(cap, base · 2^attempt)`, which spreads retrying workers apart.
public struct FullJitterBackoff: BackoffStrategy {
    /// The ceiling of the first retry.
    public var base: Duration
    /// No delay is longer than this.
    public var cap: Duration

    /// Full jitter between zero and `min(cap, base · 2^attempt)`.
    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// `min(cap, base · 2^attempt)`.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt, 0), 40)
        let capped = min(Double(cap.totalNanoseconds), Double(base.totalNanoseconds) * pow2(exponent))
        return .nanoseconds(Int64(capped))
    }

    /// A uniform draw in `0 ... ceiling(forAttempt:)`.
    public func delay(forAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let nanos = ceiling(forAttempt: attempt).totalNanoseconds
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanos, using: &generator))
    }

    private func pow2(_ n: Int) -> Double {
        var value = 1.0
        for _ in 0..<n { value *= 2 }
        return value
    }
}

extension BackoffStrategy where Self == FullJitterBackoff {
    /// Exponential backoff with full jitter between zero and `min(cap, base · 2^attempt)`.
    public static func fullJitter(base: Duration, cap: Duration) -> FullJitterBackoff {
        FullJitterBackoff(base: base, cap: cap)
    }
}
