/// How long to wait before retry number `attempt` (0 for the first retry).
public protocol BackoffStrategy: Sendable {
    /// The delay before retry `attempt`, given the delay before the previous one (nil for the
    /// first), drawn with `generator`.
    func delay(forAttempt attempt: Int, previous: Duration?, using generator: inout some RandomNumberGenerator) -> Duration
    /// The largest delay `delay(forAttempt:)` can return for `attempt`.
    func ceiling(forAttempt attempt: Int) -> Duration
}

extension BackoffStrategy {
    /// The delay before retry `attempt`, from the system's random generator.
    public func delay(forAttempt attempt: Int, previous: Duration? = nil) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(forAttempt: attempt, previous: previous, using: &generator)
    }

    /// The delay before retry `attempt` when the strategy needs no history.
    public func delay(forAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        delay(forAttempt: attempt, previous: nil, using: &generator)
    }
}

/// The successive delays of one retry loop: counts attempts and remembers the last delay
/// (decorrelated jitter draws from it).
public struct BackoffSchedule: Sendable {
    /// The strategy.
    public let strategy: any BackoffStrategy
    /// Retries so far.
    public private(set) var attempt = 0
    private var previous: Duration?

    /// A schedule at its first retry.
    public init(_ strategy: any BackoffStrategy) {
        self.strategy = strategy
    }

    /// The next delay; counts the attempt.
    public mutating func next() -> Duration {
        let delay = strategy.delay(forAttempt: attempt, previous: previous)
        attempt += 1
        previous = delay
        return delay
    }

    /// Starts over after a success.
    public mutating func reset() {
        attempt = 0
        previous = nil
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

    /// A uniform draw in `0 ... ceiling(forAttempt:)`; the previous delay plays no part.
    public func delay(forAttempt attempt: Int, previous: Duration?, using generator: inout some RandomNumberGenerator) -> Duration {
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

/// Decorrelated jitter (AWS, "Exponential Backoff And Jitter"): each delay is a uniform draw in
/// `base ... 3 · previous`, capped; never shorter than `base`, growing about threefold per retry.
public struct DecorrelatedJitterBackoff: BackoffStrategy {
    /// The shortest delay, and the first retry's.
    public var base: Duration
    /// No delay is longer than this.
    public var cap: Duration

    /// Decorrelated jitter between `base` and `min(cap, 3 · previous)`.
    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// `min(cap, base · 3^attempt)`: the most `attempt` can reach.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        var value = Double(base.totalNanoseconds)
        for _ in 0..<min(max(attempt, 0), 40) { value *= 3 }
        return .nanoseconds(Int64(min(Double(cap.totalNanoseconds), value)))
    }

    /// A uniform draw in `base ... min(cap, 3 · previous)` (`previous` defaults to `base`).
    public func delay(forAttempt attempt: Int, previous: Duration?, using generator: inout some RandomNumberGenerator) -> Duration {
        let low = min(base, cap).totalNanoseconds
        let high = min(cap.totalNanoseconds, max(low, 3 * (previous ?? base).totalNanoseconds))
        return .nanoseconds(Int64.random(in: low...high, using: &generator))
    }
}

extension BackoffStrategy where Self == DecorrelatedJitterBackoff {
    /// Decorrelated jitter: uniform in `base ... min(cap, 3 · previous delay)`.
    public static func decorrelatedJitter(base: Duration, cap: Duration) -> DecorrelatedJitterBackoff {
        DecorrelatedJitterBackoff(base: base, cap: cap)
    }
}
