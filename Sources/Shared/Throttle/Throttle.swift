import Crypto

/// What content throttling decided for one event (seed 000's outcomes).
public enum ThrottleOutcome: String, Sendable, CaseIterable {
    /// Stored as it is.
    case immediate
    /// Over the limit: opened a deferral record; stored later inside its summary.
    case deferred
    /// Ignored: counted into the open deferral record of its stream, identity and day.
    case alreadyDeferred = "already_deferred"
    /// Not tracked because the key cap was reached; stored as it is.
    case keyLimitReached = "key_limit_reached"
    /// A second copy of an event id in the same batch, or of one among the last ids counted
    /// into its open deferral record (a client retry): dropped, as its first copy is counted.
    case duplicate

    /// Whether the event itself is stored now.
    public var isStored: Bool { self == .immediate || self == .keyLimitReached }
}

/// An event for the throttle to decide, with its queued payload and the rule of its stream.
public struct ThrottleCandidate: Sendable {
    /// The event.
    public var event: Event
    /// Its payload as queued (a JSON object).
    public var payload: [UInt8]
    /// The rule of its stream.
    public var rule: ThrottleRule
    /// Its payload marked as decided (`QueueMarks.checked`), kept in the processing list when it is to be stored.
    public var decidedPayload: [UInt8]

    /// A candidate from its parts; `decidedPayload` defaults to the event with only the `checked` mark.
    public init(event: Event, payload: [UInt8], rule: ThrottleRule, decidedPayload: [UInt8]? = nil) {
        self.event = event
        self.payload = payload
        self.rule = rule
        self.decidedPayload = decidedPayload ?? event.queuePayload(marks: QueueMarks(checked: true))
    }
}

/// Content throttling with its state in Redis: decisions, due summaries, runtime rules, counters.
public struct Throttle: Sendable {
    /// The Redis the state lives in.
    public let redis: RedisClient
    /// Key names.
    public let keys: QueueKeys

    /// A throttle over `redis`.
    public init(redis: RedisClient, keys: QueueKeys) {
        self.redis = redis
        self.keys = keys
    }

    /// How long a deferral record outlives its due time, so that a flush always comes first,
    /// even after every worker was away for days; the key cap, not this, bounds the records.
    public static let recordMargin: Duration = .seconds(7 * 86_400)

    /// Decides `candidates` in one atomic call and rewrites `worker`'s processing list in `shard`
    /// (default: home; another only on one Redis, where every key is on one node) to `kept`
    /// plus the candidates still to be stored (their `decidedPayload`). Not idempotent: after
    /// a lost answer do not ask again for the same batch, re-read the processing list instead
    /// (what was decided is marked and bypasses the throttle). `maxKeys` caps tracked counters
    /// and records (0: no cap); `rememberedIDs` is how many event ids each deferral record
    /// remembers per identity to drop client retries. Throws `.command("NOTOWNER …")` when the batch was
    /// recovered by another worker (this one was fenced).
    public func decide(
        worker: String, in shard: QueueShardKeys? = nil, kept: [[UInt8]], candidates: [ThrottleCandidate], maxKeys: Int,
        rememberedIDs: Int = ThrottleSettings.defaultRememberedIDs, now: Int64
    ) async throws(RedisError) -> [ThrottleOutcome] {
        let shard = shard ?? keys.home
        var arguments: [[UInt8]] = [
            Array(String(now).utf8), Array(String(maxKeys).utf8), Array(String(max(0, rememberedIDs)).utf8),
            Array(String(Self.recordMargin.totalMilliseconds).utf8), Array(String(kept.count).utf8),
        ]
        arguments += kept
        var scriptKeys = [shard.processing(worker), shard.fence(worker), keys.throttleIndex, keys.throttleDue, keys.throttleStats]
        for candidate in candidates {
            let event = candidate.event
            let (function, first, second) = candidate.rule.strategy.scriptParameters
            let stream = event.siteID + ":" + event.eventType
            let identity = Self.identity(of: event)
            scriptKeys += [
                keys.throttleState(function: function, stream: stream, identity: identity),
                keys.throttleDeferred(stream: stream, identity: identity, day: Self.day(of: event.timestamp)),
                keys.throttleIDs(stream: stream, identity: identity),
            ]
            arguments += [
                Array(stream.utf8), Array(function.utf8), Array(String(first).utf8), Array(String(second).utf8),
                Array(String(candidate.rule.deferInterval.totalMilliseconds).utf8),
                Array(String(candidate.rule.expireTime.totalMilliseconds).utf8), Array(event.eventID.utf8), candidate.payload,
                candidate.decidedPayload,
            ]
        }
        let reply = try await redis.run(ThrottleScripts.decide, keys: scriptKeys, arguments: arguments)
        let outcomes = (reply.elements ?? []).compactMap { $0.string.flatMap(ThrottleOutcome.init(rawValue:)) }
        guard outcomes.count == candidates.count else { throw .unexpectedReply("throttle decided \(outcomes.count) of \(candidates.count) events") }
        return outcomes
    }

    /// Queues the summaries of up to `max` deferrals due at `now`; returns how many were queued
    /// and how many records were found gone (`summary_lost`).
    ///
    /// Two steps, so that no script reads a key name from data or edits a payload: the due
    /// records are read, each summary is built here (the deferred event's payload with the
    /// record's count, `throttled` and an id of its own, `summary:<record>:<opened>`), and one
    /// script queues each summary only if its record is unchanged since it was read (same count,
    /// same opening), deleting the record in the same step. So exactly one worker queues each
    /// summary; a record counted into meanwhile is flushed at the next call.
    public func flushDue(now: Int64, max: Int = 100) async throws(RedisError) -> (queued: Int, lost: Int) {
        let due = try await redis.send(RedisCommand("ZRANGEBYSCORE", keys.throttleDue, "-inf", String(now), "LIMIT", "0", String(max))).orThrow()
        let records = (due.elements ?? []).compactMap(\.string)
        guard !records.isEmpty else { return (0, 0) }
        let fields = try await redis.pipeline(records.map { RedisCommand("HMGET", $0, "payload", "count", "opened") })
        var arguments: [[UInt8]] = []
        for (record, reply) in zip(records, fields) {
            let values = try reply.orThrow().elements ?? []
            let payload = values.first?.bytes
            let count = values.count > 1 ? values[1].string : nil
            let opened = values.count > 2 ? values[2].string : nil
            guard let payload, let count, let opened else {
                arguments += [[], [], []]  // gone: counted as lost
                continue
            }
            guard let events = Int(count), events >= 1, let (event, _) = try? QueueEnvelope.decode(payload) else {
                arguments += [Array("?".utf8), Array(opened.utf8), []]  // unreadable: deleted, counted as lost
                continue
            }
            let summary = event.queuePayload(marks: QueueMarks(count: events, throttled: true, summaryID: "summary:" + record + ":" + opened))
            arguments += [Array(count.utf8), Array(opened.utf8), summary]
        }
        let reply = try await redis.run(
            ThrottleScripts.flushDue, keys: [keys.throttleDue, keys.queue, keys.throttleStats, keys.throttleIndex] + records, arguments: arguments)
        guard let parts = reply.elements, parts.count == 2, let queued = parts[0].int, let lost = parts[1].int else {
            throw .unexpectedReply("flush of due summaries answered \(reply)")
        }
        return (Int(queued), Int(lost))
    }

    /// The rules set at runtime; an unreadable rule is reported to `invalid` and skipped.
    public func rules(invalid: (String, ThrottleRuleError) -> Void = { _, _ in }) async throws(RedisError) -> [ThrottleScope: ThrottleRule] {
        var rules: [ThrottleScope: ThrottleRule] = [:]
        for (field, json) in try await redis.send(RedisCommand("HGETALL", keys.throttleConfig)).orThrow().hashPairs {
            guard let scope = ThrottleScope(field: field) else { continue }
            do {
                rules[scope] = try ThrottleRule(json: json)
            } catch {
                invalid(field, error)
            }
        }
        return rules
    }

    /// Sets the rule of `scope`; running workers apply it within a second.
    public func set(_ rule: ThrottleRule, for scope: ThrottleScope) async throws(RedisError) {
        for reply in try await redis.pipeline([
            RedisCommand("HSET", [keys.throttleConfig, scope.field], values: [rule.json.bytes]),
            RedisCommand("HINCRBY", keys.throttleStats, "config_updated", "1"),
        ]) { _ = try reply.orThrow() }
    }

    /// Removes the rule of `scope`; returns whether there was one.
    public func delete(_ scope: ThrottleScope) async throws(RedisError) -> Bool {
        let replies = try await redis.pipeline([
            RedisCommand("HDEL", keys.throttleConfig, scope.field),
            RedisCommand("HINCRBY", keys.throttleStats, "config_updated", "1"),
        ])
        return try replies[0].orThrow().int == 1
    }

    /// Pipeline-wide counters: outcomes, `tracked`, `processed`, `config_updated`, `rate_limited:<scope>`.
    public func counters() async throws(RedisError) -> [String: Int] {
        var counters: [String: Int] = [:]
        for (name, value) in try await redis.send(RedisCommand("HGETALL", keys.throttleStats)).orThrow().hashPairs {
            if let count = Int(String(decoding: value, as: UTF8.self)) { counters[name] = count }
        }
        return counters
    }

    /// SHA-256 of what makes events identical within a stream: path, user and props, the
    /// props in key order (so `{"a":1,"b":2}` and `{"b":2,"a":1}` are one identity).
    public static func identity(of event: Event) -> String {
        let props: JSONValue = event.props.map { props in
            .object(props.keys.sorted().map { key in (key, props[key]!.json) })
        } ?? .null
        var parts: [JSONValue] = [event.path.map(JSONValue.string) ?? .null, event.userID.map(JSONValue.string) ?? .null, props]
        // A Plausible custom event's name: two names may share one event type ("Sign up", "Sign_up").
        if let name = event.name { parts.append(.string(name)) }
        let details = JSONValue.array(parts)
        return SHA256.hash(data: details.bytes).lowercaseHex
    }

    /// The UTC day (days since 1970-01-01) of a timestamp: a summary never spans two days.
    public static func day(of timestamp: Int64) -> Int64 {
        timestamp >= 0 ? timestamp / 86_400_000 : (timestamp - 86_399_999) / 86_400_000
    }
}
