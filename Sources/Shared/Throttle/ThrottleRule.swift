import Foundation

/// A stream's throttling: its strategy, how long a deferral waits before its summary is
/// stored, and how long counters live without events.
public struct ThrottleRule: Sendable {
    /// How identical events are counted.
    public var strategy: any ThrottleStrategy
    /// Time from the first deferred event to its summary document.
    public var deferInterval: Duration
    /// Counters of a stream that sees no event for this long are forgotten (Redis TTLs).
    public var expireTime: Duration

    /// A rule; seed 000's defaults for the intervals (1 hour, 24 hours).
    public init(strategy: any ThrottleStrategy, deferInterval: Duration = .seconds(3600), expireTime: Duration = .seconds(86_400)) {
        self.strategy = strategy
        self.deferInterval = deferInterval
        self.expireTime = expireTime
    }

    /// The largest `limit` of a sliding window (its log holds one entry per allowed event).
    public static let maxSlidingLimit = 10_000

    /// Builds a rule from configuration values, naming the first one that is missing or out of range.
    public static func make(
        strategy name: String, limit: Int?, window: Duration?, bucketSize: Int?, refillRate: Double?,
        deferInterval: Duration?, expireTime: Duration?
    ) throws(ThrottleRuleError) -> ThrottleRule {
        func positive(_ value: Int?, _ field: String) throws(ThrottleRuleError) -> Int {
            guard let value else { throw .missing(field, strategy: name) }
            guard value > 0 else { throw .invalid(field, "must be a positive integer") }
            return value
        }
        func positive(_ value: Duration?, _ field: String) throws(ThrottleRuleError) -> Duration {
            guard let value else { throw .missing(field, strategy: name) }
            guard value.totalMilliseconds >= 1 else { throw .invalid(field, "must be at least 1 ms") }
            return value
        }
        let strategy: any ThrottleStrategy
        switch name {
        case "fixed-window": strategy = .fixedWindow(limit: try positive(limit, "limit"), window: try positive(window, "window"))
        case "sliding-window":
            // The window is a log of one entry per allowed event, trimmed inside one Lua call: a cap
            // keeps that call short (Redis runs nothing else meanwhile) and the state small.
            let limit = try positive(limit, "limit")
            guard limit <= maxSlidingLimit else { throw .invalid("limit", "must be at most \(maxSlidingLimit) for sliding-window; use fixed-window or token-bucket for more") }
            strategy = .slidingWindow(limit: limit, window: try positive(window, "window"))
        case "token-bucket":
            guard let refillRate else { throw .missing("refill-rate", strategy: name) }
            guard refillRate > 0, refillRate.isFinite else { throw .invalid("refill-rate", "must be a positive number of tokens per second") }
            strategy = .tokenBucket(bucketSize: try positive(bucketSize, "bucket-size"), refillRate: refillRate)
        default: throw .invalid("strategy", "must be fixed-window, token-bucket or sliding-window, not \(name)")
        }
        return ThrottleRule(
            strategy: strategy,
            deferInterval: try positive(deferInterval ?? .seconds(3600), "defer-interval"),
            expireTime: try positive(expireTime ?? .seconds(86_400), "expire"))
    }

    /// The rule as kept in Redis and shown by `Worker throttle get`.
    public var json: JSONValue {
        .object([("strategy", .string(strategy.name))] + strategy.fields + [
            ("defer_interval_ms", .int(Int(deferInterval.totalMilliseconds))), ("expire_ms", .int(Int(expireTime.totalMilliseconds))),
        ])
    }

    /// Reads a rule written by `json`.
    public init(json: [UInt8]) throws(ThrottleRuleError) {
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: Data(json))
        } catch {
            throw .invalid("configuration", "is not a throttle rule: \(String(decoding: json, as: UTF8.self))")
        }
        self = try Self.make(
            strategy: record.strategy, limit: record.limit, window: record.windowMs.map { .milliseconds($0) },
            bucketSize: record.bucketSize, refillRate: record.refillRate,
            deferInterval: .milliseconds(record.deferIntervalMs), expireTime: .milliseconds(record.expireMs))
    }

    /// Reads the default rule from `THROTTLE_STRATEGY` (unset or `off`: no default) and its
    /// `THROTTLE_LIMIT`, `THROTTLE_WINDOW_MS`, `THROTTLE_BUCKET_SIZE`, `THROTTLE_REFILL_RATE`,
    /// `THROTTLE_DEFER_INTERVAL_MS`, `THROTTLE_EXPIRE_MS`.
    public static func fromEnvironment(_ environment: Environment) throws -> ThrottleRule? {
        guard let name = environment["THROTTLE_STRATEGY"], name != "off" else { return nil }
        func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard environment[key] != nil else { return nil }
            return try environment.int(key, default: range.lowerBound, in: range)
        }
        var refillRate: Double?
        if let text = environment["THROTTLE_REFILL_RATE"] {
            guard let value = Double(text), value.isFinite, value > 0, value <= 1_000_000 else {
                throw ConfigurationError.invalid(key: "THROTTLE_REFILL_RATE", value: text, expected: "tokens per second, above 0 and at most 1000000")
            }
            refillRate = value
        }
        let day = 86_400_000
        do {
            return try make(
                strategy: name, limit: try int("THROTTLE_LIMIT", 1...1_000_000_000), window: try int("THROTTLE_WINDOW_MS", 1...(366 * day)).map { .milliseconds($0) },
                bucketSize: try int("THROTTLE_BUCKET_SIZE", 1...1_000_000_000), refillRate: refillRate,
                deferInterval: try int("THROTTLE_DEFER_INTERVAL_MS", 1...(7 * day)).map { .milliseconds($0) },
                expireTime: try int("THROTTLE_EXPIRE_MS", 1...(366 * day)).map { .milliseconds($0) })
        } catch let error as ThrottleRuleError {
            // The rule speaks of its command-line fields; here the person is editing the environment.
            let key = environmentNames[error.field] ?? "THROTTLE_STRATEGY"
            throw ConfigurationError.invalid(key: key, value: environment[key] ?? "(unset)", expected: "set for THROTTLE_STRATEGY=\(name): \(error)")
        }
    }

    /// The environment variable behind each field of a rule.
    private static let environmentNames = [
        "strategy": "THROTTLE_STRATEGY", "limit": "THROTTLE_LIMIT", "window": "THROTTLE_WINDOW_MS", "bucket-size": "THROTTLE_BUCKET_SIZE",
        "refill-rate": "THROTTLE_REFILL_RATE", "defer-interval": "THROTTLE_DEFER_INTERVAL_MS", "expire": "THROTTLE_EXPIRE_MS",
    ]

    private struct Record: Decodable {
        var strategy: String
        var limit: Int?
        var windowMs: Int64?
        var bucketSize: Int?
        var refillRate: Double?
        var deferIntervalMs: Int64
        var expireMs: Int64
        enum CodingKeys: String, CodingKey {
            case strategy, limit, windowMs = "window_ms", bucketSize = "bucket_size", refillRate = "refill_rate"
            case deferIntervalMs = "defer_interval_ms", expireMs = "expire_ms"
        }
    }
}

/// A throttle rule that cannot be built; the message names the setting to fix.
public enum ThrottleRuleError: Error, CustomStringConvertible, Equatable {
    /// A parameter the strategy needs was not given.
    case missing(String, strategy: String)
    /// A parameter is out of range or unknown.
    case invalid(String, String)

    /// The field at fault (`limit`, `window`, …).
    public var field: String {
        switch self {
        case .missing(let field, _), .invalid(let field, _): field
        }
    }

    /// What to fix.
    public var description: String {
        switch self {
        case .missing(let field, let strategy): "\(strategy) needs --\(field)"
        case .invalid(let field, let problem): "\(field) \(problem)"
        }
    }
}

/// Where a rule applies: one event type of one site, or every type of a site (`*`).
public struct ThrottleScope: Sendable, Hashable, CustomStringConvertible {
    /// The site.
    public var siteID: String
    /// The event type, or `*` for all of the site's types.
    public var eventType: String

    /// A scope; `eventType` defaults to every type.
    public init(siteID: String, eventType: String = "*") {
        self.siteID = siteID
        self.eventType = eventType
    }

    /// The field in the configuration hash, `site|event_type`.
    public var field: String { siteID + "|" + eventType }

    /// Parses a configuration field.
    public init?(field: String) {
        let parts = field.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(siteID: String(parts[0]), eventType: String(parts[1]))
    }

    /// `site/event_type`.
    public var description: String { siteID + "/" + eventType }
}

/// Every rule in force: per-stream and per-site rules from Redis, then the environment's default.
public struct ThrottleSettings: Sendable {
    /// Applies when no stream or site rule does; nil: throttling off by default.
    public var defaultRule: ThrottleRule?
    /// Most tracked counters and deferral records (the key index); 0 means no cap (tests only:
    /// the configuration refuses 0).
    public var maxKeys: Int
    /// Rules set at runtime (`Worker throttle set`).
    public var rules: [ThrottleScope: ThrottleRule]
    /// How many event ids each deferral record remembers, so that a client retry of one of
    /// them is not counted twice.
    public var rememberedIDs: Int

    /// The default cap on tracked keys (`THROTTLE_MAX_KEYS`).
    public static let defaultMaxKeys = 100_000
    /// The default number of event ids remembered per tracked identity (`THROTTLE_DEDUP_IDS`):
    /// 60 ids of at most 64 bytes are at most about 4 KiB per identity (measured: about 0.9 KiB
    /// with 36-byte ids), so `defaultMaxKeys` identities stay under about 400 MiB at worst.
    public static let defaultRememberedIDs = 60

    /// Settings from their parts.
    public init(
        defaultRule: ThrottleRule? = nil, maxKeys: Int = ThrottleSettings.defaultMaxKeys, rules: [ThrottleScope: ThrottleRule] = [:],
        rememberedIDs: Int = ThrottleSettings.defaultRememberedIDs
    ) {
        self.defaultRule = defaultRule
        self.maxKeys = maxKeys
        self.rules = rules
        self.rememberedIDs = rememberedIDs
    }

    /// True when some event could be throttled.
    public var isActive: Bool { defaultRule != nil || !rules.isEmpty }

    /// The rule for a stream: its own, else its site's, else the default.
    public func rule(siteID: String, eventType: String) -> ThrottleRule? {
        rules[ThrottleScope(siteID: siteID, eventType: eventType)] ?? rules[ThrottleScope(siteID: siteID)] ?? defaultRule
    }
}
