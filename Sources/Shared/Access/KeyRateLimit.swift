/// Reads allowed per API key: at most `limit` per fixed `window` that starts at the key's
/// first read (600 an hour by default, as Plausible's Stats API), counted in Redis so every
/// API instance shares the count.
public struct KeyRateLimit: Sendable {
    /// Plausible's default: 600 requests an hour.
    public static let defaultLimit = 600
    /// An hour.
    public static let defaultWindow: Duration = .seconds(3600)

    /// Where the counters live.
    public let redis: RedisClient
    /// Key names (the counter is `keys.statsKeyRate(hash)`).
    public let keys: QueueKeys
    /// Reads per window; 0 turns the limit off (and Redis is not asked).
    public let limit: Int
    /// The window.
    public let window: Duration

    /// A limit of `limit` reads per `window` for every key.
    public init(redis: RedisClient, keys: QueueKeys, limit: Int = defaultLimit, window: Duration = defaultWindow) {
        self.redis = redis
        self.keys = keys
        self.limit = limit
        self.window = window
    }

    /// What the limit decided for one read.
    public struct Decision: Sendable, Equatable {
        /// Whether the read may go on.
        public var allowed: Bool
        /// The limit per window (0: none).
        public var limit: Int
        /// Reads left in this window.
        public var remaining: Int
        /// Time until the window ends and the count starts again.
        public var reset: Duration
    }

    /// Counts one read of the key whose hash is `keyHash`. Refused reads are counted too (they
    /// never extend the window). Throws when Redis cannot answer: the caller refuses the read.
    public func hit(keyHash: String) async throws(RedisError) -> Decision {
        guard limit > 0 else { return Decision(allowed: true, limit: 0, remaining: 0, reset: .zero) }
        let windowMillis = max(1, window.totalMilliseconds)
        let reply = try await redis.run(Self.script, keys: [keys.statsKeyRate(keyHash)], arguments: [Array(String(windowMillis).utf8)])
        guard let parts = reply.elements, parts.count == 2, let count = parts[0].int, let ttl = parts[1].int else {
            throw .unexpectedReply("key rate limit answered \(reply)")
        }
        let reset = Duration.milliseconds(max(0, min(ttl, windowMillis)))
        return Decision(allowed: count <= Int64(limit), limit: limit, remaining: max(0, limit - Int(clamping: count)), reset: reset)
    }

    /// INCR, then the window's TTL: set by the first read of a window (or when a counter somehow
    /// has none), never extended, so the count starts again when the window ends.
    static let script = RedisScript("""
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if ttl < 0 then
          ttl = tonumber(ARGV[1])
          redis.call('PEXPIRE', KEYS[1], ttl)
        end
        return {count, ttl}
        """)
}
