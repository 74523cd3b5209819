import Foundation

/// At most `limit` events per `period` (GCRA: a burst of `limit`, then one every `period / limit`).
public struct RateLimit: Sendable, Equatable, CustomStringConvertible {
    /// Events per period.
    public var limit: Int
    /// The period.
    public var period: Duration

    /// A limit from its parts.
    public init(limit: Int, period: Duration) {
        self.limit = limit
        self.period = period
    }

    /// Parses `100/1s`, `60/1m`; nil if malformed or not positive.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let limit = Int(parts[0]), limit > 0, let period = DurationText.parse(String(parts[1])) else { return nil }
        self.init(limit: limit, period: period)
    }

    /// `100/1s`.
    public var description: String { "\(limit)/\(DurationText.format(period))" }
}

/// What a rate limit applies to.
public enum RateLimitScope: String, Sendable, CaseIterable {
    /// All events of a site.
    case site
    /// Events of one user of a site.
    case user
    /// Events from one client address.
    case address
}

/// The limits of each scope; a nil scope is not limited.
public struct RateLimits: Sendable, Equatable {
    /// Per site.
    public var site: RateLimit?
    /// Per (site, userid).
    public var user: RateLimit?
    /// Per client address.
    public var address: RateLimit?

    /// Limits from their parts.
    public init(site: RateLimit? = nil, user: RateLimit? = nil, address: RateLimit? = nil) {
        self.site = site
        self.user = user
        self.address = address
    }

    /// The limit of `scope`.
    public subscript(scope: RateLimitScope) -> RateLimit? {
        switch scope {
        case .site: site
        case .user: user
        case .address: address
        }
    }

    /// True when no scope is limited.
    public var isEmpty: Bool { site == nil && user == nil && address == nil }

    /// Reads `RATE_LIMIT_SITE`, `RATE_LIMIT_USER`, `RATE_LIMIT_ADDRESS` (e.g. `1000/1s`); unset: unlimited.
    public init(environment: Environment) throws(ConfigurationError) {
        func read(_ key: String) throws(ConfigurationError) -> RateLimit? {
            guard let text = environment[key], !text.isEmpty, text != "off" else { return nil }
            guard let limit = RateLimit(text) else { throw .invalid(key: key, value: text, expected: "events/period, e.g. 100/1s or 60/1m") }
            return limit
        }
        self.init(site: try read("RATE_LIMIT_SITE"), user: try read("RATE_LIMIT_USER"), address: try read("RATE_LIMIT_ADDRESS"))
    }

    /// `{"site":"100/1s","user":"10/1m"}`, as kept in Redis per site.
    public var json: JSONValue {
        .object(RateLimitScope.allCases.compactMap { scope in self[scope].map { (scope.rawValue, .string($0.description)) } })
    }

    /// Reads limits written by `json`; nil if unreadable.
    public init?(json: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: String] else { return nil }
        var limits = RateLimits()
        for (key, text) in object {
            guard let scope = RateLimitScope(rawValue: key), let limit = RateLimit(text) else { return nil }
            switch scope {
            case .site: limits.site = limit
            case .user: limits.user = limit
            case .address: limits.address = limit
            }
        }
        self = limits
    }

    /// These limits with `override`'s scopes replacing theirs.
    public func overridden(by override: RateLimits) -> RateLimits {
        RateLimits(site: override.site ?? site, user: override.user ?? user, address: override.address ?? address)
    }
}

/// An event to queue and the rate-limit keys it counts against.
public struct QueueItem: Sendable {
    /// The queue payload.
    public var payload: [UInt8]
    /// Per scope: the key (site, site and user, or address) and its limit.
    public var limits: [(scope: RateLimitScope, key: String, limit: RateLimit)]

    /// An item; no limits means it is always admitted.
    public init(payload: [UInt8], limits: [(scope: RateLimitScope, key: String, limit: RateLimit)] = []) {
        self.payload = payload
        self.limits = limits
    }
}

/// What rate limiting decided for one event, with the figures for `RateLimit-*` headers.
public struct Admission: Sendable, Equatable {
    /// Whether the event was queued.
    public var allowed: Bool
    /// The scope that refused it.
    public var refusedBy: RateLimitScope?
    /// How long until it would be allowed (refused events).
    public var retryAfter: Duration
    /// The limit of the most restrictive scope; 0 when nothing is limited.
    public var limit: Int
    /// Events left in that scope now.
    public var remaining: Int
    /// Time until that scope is fully available again.
    public var reset: Duration

    /// Queued, with no limit in force.
    public static let unlimited = Admission(allowed: true, refusedBy: nil, retryAfter: .zero, limit: 0, remaining: 0, reset: .zero)
}

extension ReliableQueue {
    /// The default cap on tracked rate-limit keys.
    public static let defaultMaxRateLimitKeys = 100_000

    /// Checks each item's rate limits and pushes the allowed ones, in one round trip; returns the
    /// decisions in order and the queue's length afterwards, or nil when the queue holds
    /// `highWater` events or more (0: no mark) and nothing was checked or pushed. At most
    /// `maxKeys` rate-limit keys are tracked (0: no cap): past it an event whose key is not
    /// tracked yet is admitted unchecked and counted as `rate_untracked`.
    public func enqueue(
        admitting items: [QueueItem], now: Int64, highWater: Int = 0, maxKeys: Int = ReliableQueue.defaultMaxRateLimitKeys
    ) async throws(RedisError) -> (admissions: [Admission], depth: Int)? {
        // The home queue holds its part of the mark, as every shard does (`enqueue(_:highWater:)`).
        let mark = highWater > 0 ? (highWater + keys.shards.count - 1) / keys.shards.count : 0
        var arguments: [[UInt8]] = [Array(String(now).utf8), Array(String(mark).utf8), Array(String(max(0, maxKeys)).utf8)]
        arguments.reserveCapacity(3 + items.count * 10)
        // Every counter is named here and passed in KEYS, once however many events count against it.
        var scriptKeys = [keys.queue, keys.throttleStats, keys.rateLimitIndex]
        var positions: [String: Int] = [:]
        for item in items {
            arguments.append(item.payload)
            for scope in RateLimitScope.allCases {
                if let entry = item.limits.first(where: { $0.scope == scope }) {
                    let key = keys.rateLimit(scope.rawValue + ":" + entry.key)
                    let position = positions[key] ?? {
                        scriptKeys.append(key)
                        return scriptKeys.count
                    }()
                    positions[key] = position
                    arguments += [Array(String(position).utf8), Array(String(entry.limit.limit).utf8),
                                  Array(String(entry.limit.period.totalMilliseconds).utf8)]
                } else {
                    arguments += [Array("0".utf8), [], []]
                }
            }
        }
        let reply = try await redis.run(ThrottleScripts.admit, keys: scriptKeys, arguments: arguments, acks: pushAcks)
        if let parts = reply.elements, parts.first?.int == -1 { return nil }
        guard let parts = reply.elements, parts.count == 2, let depth = parts[0].int, let rows = parts[1].elements, rows.count == items.count else {
            throw .unexpectedReply("rate-limited push answered \(reply)")
        }
        let admissions = rows.map { row -> Admission in
            let numbers = (row.elements ?? []).map { Int($0.int ?? 0) }
            guard numbers.count == 6 else { return .unlimited }
            return Admission(
                allowed: numbers[0] == 1, refusedBy: RateLimitScope.allCases.indices.contains(numbers[1]) ? RateLimitScope.allCases[numbers[1]] : nil,
                retryAfter: .milliseconds(numbers[2]), limit: numbers[3], remaining: numbers[4], reset: .milliseconds(numbers[5]))
        }
        return (admissions, Int(depth))
    }
}

/// Per-site rate limits kept in Redis (`Worker limits set|get|list|delete`); API instances re-read them every second.
public struct RateLimitStore: Sendable {
    /// The Redis the configuration lives in.
    public let redis: RedisClient
    /// Key names.
    public let keys: QueueKeys

    /// A store over `redis`.
    public init(redis: RedisClient, keys: QueueKeys) {
        self.redis = redis
        self.keys = keys
    }

    /// Every site's overrides; unreadable entries are skipped.
    public func all() async throws(RedisError) -> [String: RateLimits] {
        var result: [String: RateLimits] = [:]
        for (site, json) in try await redis.send(RedisCommand("HGETALL", keys.rateLimitConfig)).orThrow().hashPairs {
            if let limits = RateLimits(json: json) { result[site] = limits }
        }
        return result
    }

    /// Sets `site`'s overrides.
    public func set(_ limits: RateLimits, site: String) async throws(RedisError) {
        for reply in try await redis.pipeline([
            RedisCommand("HSET", [keys.rateLimitConfig, site], values: [limits.json.bytes]),
            RedisCommand("HINCRBY", keys.throttleStats, "config_updated", "1"),
        ]) { _ = try reply.orThrow() }
    }

    /// Removes `site`'s overrides; returns whether there were any.
    public func delete(site: String) async throws(RedisError) -> Bool {
        let replies = try await redis.pipeline([
            RedisCommand("HDEL", keys.rateLimitConfig, site), RedisCommand("HINCRBY", keys.throttleStats, "config_updated", "1"),
        ])
        return try replies[0].orThrow().int == 1
    }
}
