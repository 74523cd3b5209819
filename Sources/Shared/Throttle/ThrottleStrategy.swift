/// How a stream of identical events is counted before it is deferred. The decision itself runs
/// in Redis (`ThrottleScripts.decide`), so every worker shares one count; a strategy only
/// names its Lua function and its two parameters.
public protocol ThrottleStrategy: Sendable {
    /// The name used in configuration and on the command line.
    var name: String { get }
    /// The Lua function and its parameters, in the units the script expects.
    var scriptParameters: (function: String, first: Double, second: Double) { get }
    /// The parameters as configuration fields (written to Redis, shown by `Worker throttle get`).
    var fields: [(String, JSONValue)] { get }
}

/// At most `limit` events per fixed, epoch-aligned `window`.
public struct FixedWindowStrategy: ThrottleStrategy, Equatable {
    /// Events allowed per window.
    public var limit: Int
    /// The window length.
    public var window: Duration
    /// Configuration name.
    public var name: String { "fixed-window" }
    /// `fixed(limit, window ms)`.
    public var scriptParameters: (function: String, first: Double, second: Double) {
        ("fixed", Double(limit), Double(window.totalMilliseconds))
    }
    /// `limit`, `window_ms`.
    public var fields: [(String, JSONValue)] { [("limit", .int(limit)), ("window_ms", .int(Int(window.totalMilliseconds)))] }
}

/// A bucket of `bucketSize` tokens refilled at `refillRate` per second; an event takes one.
public struct TokenBucketStrategy: ThrottleStrategy, Equatable {
    /// The largest burst.
    public var bucketSize: Int
    /// Tokens added per second.
    public var refillRate: Double
    /// Configuration name.
    public var name: String { "token-bucket" }
    /// `bucket(size, tokens per second)`.
    public var scriptParameters: (function: String, first: Double, second: Double) { ("bucket", Double(bucketSize), refillRate) }
    /// `bucket_size`, `refill_rate`.
    public var fields: [(String, JSONValue)] { [("bucket_size", .int(bucketSize)), ("refill_rate", .double(refillRate))] }
}

/// At most `limit` events in any `window` ending now (an exact log of recent times).
public struct SlidingWindowStrategy: ThrottleStrategy, Equatable {
    /// Events allowed in any window.
    public var limit: Int
    /// The window length.
    public var window: Duration
    /// Configuration name.
    public var name: String { "sliding-window" }
    /// `sliding(limit, window ms)`.
    public var scriptParameters: (function: String, first: Double, second: Double) {
        ("sliding", Double(limit), Double(window.totalMilliseconds))
    }
    /// `limit`, `window_ms`.
    public var fields: [(String, JSONValue)] { [("limit", .int(limit)), ("window_ms", .int(Int(window.totalMilliseconds)))] }
}

extension ThrottleStrategy where Self == FixedWindowStrategy {
    /// At most `limit` events per fixed `window`.
    public static func fixedWindow(limit: Int, window: Duration) -> FixedWindowStrategy {
        FixedWindowStrategy(limit: limit, window: window)
    }
}

extension ThrottleStrategy where Self == TokenBucketStrategy {
    /// Bursts of `bucketSize`, then `refillRate` events per second.
    public static func tokenBucket(bucketSize: Int, refillRate: Double) -> TokenBucketStrategy {
        TokenBucketStrategy(bucketSize: bucketSize, refillRate: refillRate)
    }
}

extension ThrottleStrategy where Self == SlidingWindowStrategy {
    /// At most `limit` events in any `window`.
    public static func slidingWindow(limit: Int, window: Duration) -> SlidingWindowStrategy {
        SlidingWindowStrategy(limit: limit, window: window)
    }
}
