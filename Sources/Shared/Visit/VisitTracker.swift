import Crypto
import NIOConcurrencyHelpers

/// What a visit keeps from its first event: every later event of the visit carries it, so an
/// internal click never turns into a new source.
public struct VisitAttributes: Sendable, Equatable {
    /// `Direct / None` when nothing names one.
    public var source: String
    /// Host and path of the visit's referrer.
    public var referrer: String?
    /// The visit's UTM parameters.
    public var utmMedium: String?, utmSource: String?, utmCampaign: String?, utmContent: String?, utmTerm: String?

    /// Longest referrer a visit keeps, in UTF-8 bytes (it is held in Redis for the visit's life).
    public static let maxReferrerBytes = 512
    /// Longest source or UTM value a visit keeps, in UTF-8 bytes.
    public static let maxValueBytes = 128

    /// The attributes of a visit that starts with `traffic`, each value cut to its bound.
    public init(_ traffic: TrafficSource) {
        let value = { (text: String?) in text.map { ClientContext.cut($0, toBytes: Self.maxValueBytes) } }
        source = ClientContext.cut(traffic.source, toBytes: Self.maxValueBytes)
        referrer = traffic.referrer.map { ClientContext.cut($0, toBytes: Self.maxReferrerBytes) }
        utmMedium = value(traffic.utm.medium)
        utmSource = value(traffic.utm.source)
        utmCampaign = value(traffic.utm.campaign)
        utmContent = value(traffic.utm.content)
        utmTerm = value(traffic.utm.term)
    }

    /// The attributes as the visit table holds them: the seven values joined by U+001F (a
    /// control character, which no cleaned value holds; one that did would become a space),
    /// an absent value empty. Cheaper than JSON by a wide margin, twice per event.
    var packed: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        for (index, value) in [source, referrer, utmMedium, utmSource, utmCampaign, utmContent, utmTerm].enumerated() {
            if index > 0 { bytes.append(Self.separator) }
            if let value { bytes += value.utf8.map { $0 == Self.separator ? UInt8(ascii: " ") : $0 } }
        }
        return bytes
    }

    /// Reads `packed`; nil for anything else.
    init?(packed: [UInt8]) {
        let values = packed.split(separator: Self.separator, omittingEmptySubsequences: false).map { $0.isEmpty ? nil : String(decoding: $0, as: UTF8.self) }
        guard values.count == 7, let source = values[0] else { return nil }
        self.source = source
        referrer = values[1]
        utmMedium = values[2]
        utmSource = values[3]
        utmCampaign = values[4]
        utmContent = values[5]
        utmTerm = values[6]
    }

    private static let separator: UInt8 = 0x1F
}

/// One event to place in a visit.
public struct SessionRequest: Sendable {
    /// The event's site.
    public var siteID: String
    /// Its visitor.
    public var visitorID: Int64
    /// The same visitor under the previous day's salt (nil for a named user): a visit open at
    /// midnight UTC goes on under that id instead of splitting in two.
    public var previousVisitorID: Int64?
    /// When it happened, Unix ms: visits are cut by inactivity in event time.
    public var timestamp: Int64
    /// The id of the visit if this event starts one: derived from the event, so a redelivered
    /// first event starts the same visit.
    public var freshID: Int64
    /// Its own source, kept if it starts a visit.
    public var attributes: VisitAttributes

    /// A request from its parts.
    public init(siteID: String, visitorID: Int64, previousVisitorID: Int64? = nil, timestamp: Int64, freshID: Int64, attributes: VisitAttributes) {
        self.siteID = siteID
        self.visitorID = visitorID
        self.previousVisitorID = previousVisitorID
        self.timestamp = timestamp
        self.freshID = freshID
        self.attributes = attributes
    }
}

/// The visit an event belongs to.
public struct SessionAssignment: Sendable, Equatable {
    /// The visit.
    public var sessionID: Int64
    /// The visitor to store: the request's, or its previous-day id when the event continued a
    /// visit open at midnight.
    public var visitorID: Int64
    /// The visit's source, from its first event.
    public var attributes: VisitAttributes
    /// False when the visit was not looked up: the table was full (for all sites or for its
    /// site), or the event happened more than two hours before it was received. The id is then
    /// derived from the visitor and the 30-minute window alone, and the event keeps its own source.
    public var tracked: Bool
}

/// Visitor salts and open visits, in Redis so every worker agrees: a redelivered event, or a
/// visit whose events are split between a worker killed mid-batch and the one that recovers
/// it, gets the same visitor and the same visit.
public struct VisitTracker: Sendable {
    /// The Redis the state lives in.
    public let redis: RedisClient
    /// Key names.
    public let keys: QueueKeys
    /// Most visits held per 30-minute bucket, all sites together (memory bound); past it
    /// visits are still assigned, statelessly (see `SessionAssignment.tracked`).
    public let maxPerBucket: Int
    /// Most visits started per 30-minute bucket by one site, so that one busy site cannot fill
    /// the table for the others. Sites are not registered yet, so many made-up sites still can.
    public let maxPerSite: Int
    private let salts = NIOLockedValueBox<[Int64: [UInt8]]>([:])

    /// A visit ends after this long without an event from its visitor.
    public static let sessionTimeoutMillis: Int64 = 30 * 60 * 1000
    /// How long a salt outlives its day: events received on a day are hashed with that day's
    /// salt even when a backlog is stored up to 48 hours later.
    public static let saltGraceMillis: Int64 = 48 * 3_600_000
    /// The shortest life of a salt from when it is made.
    static let minimumSaltLifetimeMillis: Int64 = 3_600_000
    /// Visit buckets live this long after their last write: as long as an event of theirs can
    /// still be tracked (received up to two hours later), plus a visit's timeout.
    static let bucketTTLMillis: Int64 = trackedPastMillis + 2 * sessionTimeoutMillis
    private static let dayMillis: Int64 = 86_400_000

    /// A tracker over `redis`.
    public init(redis: RedisClient, keys: QueueKeys, maxPerBucket: Int, maxPerSite: Int) {
        self.redis = redis
        self.keys = keys
        self.maxPerBucket = maxPerBucket
        self.maxPerSite = maxPerSite
    }

    /// Visits are tracked for events that happened at most this long before they were received
    /// (a client can back-date `/event`; older events are placed statelessly, so no client
    /// creates buckets for times long past).
    public static let trackedPastMillis: Int64 = 2 * 3_600_000
    /// … and at most this long after (the 5 minutes of allowed clock skew).
    public static let trackedFutureMillis: Int64 = 5 * 60_000

    /// Whether a visit is looked up for an event at `timestamp` received at `receivedAt`.
    public static func isTracked(timestamp: Int64, receivedAt: Int64) -> Bool {
        timestamp >= receivedAt - trackedPastMillis && timestamp <= receivedAt + trackedFutureMillis
    }

    /// The salt of UTC day `day`: read or, by the first worker to need it, made (`SET NX`),
    /// then kept in memory (the last few days only). It lives until 48 hours after its day, and
    /// at least an hour from `now` (a day long past, met in a replay, gets a salt all agree on).
    public func salt(day: Int64, now: Int64) async throws(RedisError) -> [UInt8] {
        if let known = salts.withLockedValue({ $0[day] }) { return known }
        var generator = SystemRandomNumberGenerator()
        let fresh = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }.lowercaseHex
        let lifetime = max((day + 1) * Self.dayMillis + Self.saltGraceMillis - now, Self.minimumSaltLifetimeMillis)
        let reply = try await redis.run(Self.saltScript, keys: [keys.salt(day: day)], arguments: [Array(fresh.utf8), Array(String(lifetime).utf8)])
        guard let salt = reply.bytes, !salt.isEmpty else { throw .unexpectedReply("salt script answered \(reply)") }
        salts.withLockedValue { cache in
            cache[day] = salt
            for old in cache.keys where old < day - 3 { cache[old] = nil }
        }
        return salt
    }

    /// Places each event in a visit, in order, in one atomic script: an event within 30 minutes
    /// of a visit of its visitor (either side, so late events join too) extends it, under
    /// today's visitor id or, across midnight, yesterday's; an event earlier than the visit's
    /// first becomes its first and gives it its source; otherwise the event starts a visit with
    /// its `freshID`. Idempotent for a redelivered batch. Events not tracked (see
    /// `isTracked`) are placed without state by the caller's window.
    public func assign(_ requests: [SessionRequest], receivedAt: [Int64]) async throws(RedisError) -> [SessionAssignment] {
        // Untracked events (and those the full table turns away) are placed by their window.
        var found = [SessionAssignment?](repeating: nil, count: requests.count)
        func answers() -> [SessionAssignment] {
            zip(requests, found).map { request, assignment in
                assignment ?? SessionAssignment(
                    sessionID: Self.windowSessionID(visitorID: request.visitorID, timestamp: request.timestamp),
                    visitorID: request.visitorID, attributes: request.attributes, tracked: false)
            }
        }
        // In event-time order (stable), so a batch holding a visit's events out of order still
        // chains them into one visit.
        let tracked = requests.indices.filter { Self.isTracked(timestamp: requests[$0].timestamp, receivedAt: receivedAt[$0]) }
            .sorted { (requests[$0].timestamp, $0) < (requests[$1].timestamp, $1) }
        guard !tracked.isEmpty else { return answers() }
        var scriptKeys: [String] = []
        var arguments: [[UInt8]] = [
            Array(String(Self.sessionTimeoutMillis).utf8), Array(String(maxPerBucket).utf8), Array(String(maxPerSite).utf8),
            Array(String(Self.bucketTTLMillis).utf8),
        ]
        scriptKeys.reserveCapacity(tracked.count * 3)
        arguments.reserveCapacity(arguments.count + tracked.count * 6)
        var bucketKeys: [Int64: String] = [:]  // a batch's events fall in a few buckets: name each once
        func bucketKey(_ bucket: Int64) -> String {
            if let known = bucketKeys[bucket] { return known }
            let key = keys.visits(bucket: bucket)
            bucketKeys[bucket] = key
            return key
        }
        func field(_ siteID: String, _ visitorID: Int64) -> [UInt8] {
            var bytes = Array(siteID.utf8)
            bytes.append(UInt8(ascii: "|"))
            bytes += String(visitorID).utf8
            return bytes
        }
        for index in tracked {
            let request = requests[index]
            let bucket = Self.bucket(of: request.timestamp)
            scriptKeys += [bucketKey(bucket - 1), bucketKey(bucket), bucketKey(bucket + 1)]
            arguments += [
                field(request.siteID, request.visitorID), request.previousVisitorID.map { field(request.siteID, $0) } ?? [],
                Array(request.siteID.utf8), Array(String(request.timestamp).utf8), Array(String(request.freshID).utf8), request.attributes.packed,
            ]
        }
        let reply = try await redis.run(Self.assignScript, keys: scriptKeys, arguments: arguments)
        guard let items = reply.elements, items.count == tracked.count * 3 else {
            throw .unexpectedReply("visit assignment answered \(reply), expected \(tracked.count * 3) items")
        }
        for (position, index) in tracked.enumerated() {
            guard let sessionID = items[position * 3].string.flatMap({ Int64($0) }) else { continue }  // the table is full
            let request = requests[index]
            let blob = items[position * 3 + 1].bytes ?? []
            let attributes = blob.isEmpty ? request.attributes : (VisitAttributes(packed: blob) ?? request.attributes)
            let continuesYesterday = items[position * 3 + 2].string == "1"
            found[index] = SessionAssignment(
                sessionID: sessionID, visitorID: continuesYesterday ? (request.previousVisitorID ?? request.visitorID) : request.visitorID,
                attributes: attributes, tracked: true)
        }
        return answers()
    }

    /// The 30-minute bucket of event time `timestamp` falls in.
    static func bucket(of timestamp: Int64) -> Int64 {
        timestamp >= 0 ? timestamp / sessionTimeoutMillis : (timestamp - sessionTimeoutMillis + 1) / sessionTimeoutMillis
    }

    /// KEYS[1]: the salt of a day. ARGV: a fresh salt, its lifetime in ms. The salt there, or
    /// the fresh one set (Redis 6.2 has no `SET NX GET`).
    static let saltScript = RedisScript(#"""
        local salt = redis.call('GET', KEYS[1])
        if salt then return salt end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return ARGV[1]
        """#)

    /// KEYS: per event, its bucket's previous, own and next visit hash. ARGV: timeout, cap,
    /// per-site cap, bucket TTL, then per event: field (`site|visitor`), the previous day's
    /// field (or ""), site, time, fresh id, packed attributes. A hash value is `id first last
    /// attributes`; `#` counts the visits held in the bucket (started there or copied in from a
    /// neighbour), so a hash holds at most `cap` visits; `#<site>` counts those a site started
    /// there. Per event: the
    /// visit's id (empty when the table is full), its attributes (`""` when they are the
    /// event's own) and `"1"` when it continued under the previous day's field.
    static let assignScript = RedisScript(#"""
        local window, cap, siteCap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local per = 6
        local out = {}
        local function find(i, field, ts)
          for _, key in ipairs({KEYS[i * 3 + 2], KEYS[i * 3 + 1], KEYS[i * 3 + 3]}) do
            local value = redis.call('HGET', key, field)
            if value then
              local sid, first, last, rest = string.match(value, '^(%S+) (%-?%d+) (%-?%d+) (.*)$')
              first, last = tonumber(first), tonumber(last)
              if first and last and ts >= first - window and ts <= last + window then return {sid, first, last, rest} end
            end
          end
        end
        for i = 0, (#ARGV - 4) / per - 1 do
          local a = 5 + i * per
          local field, previous, site, ts, fresh, blob = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], ARGV[a + 5]
          local own = KEYS[i * 3 + 2]
          local found, via = find(i, field, ts), ''
          if not found and previous ~= '' then
            found = find(i, previous, ts)
            if found then field, via = previous, '1' end
          end
          if found then
            local kept, answer = found[4], found[4]
            if ts < found[2] then
              -- An earlier event: its source becomes the visit's, in every bucket holding it.
              kept, answer = blob, ''
              for _, key in ipairs({KEYS[i * 3 + 1], KEYS[i * 3 + 3]}) do
                local value = redis.call('HGET', key, field)
                local head = value and string.match(value, '^(%S+ %-?%d+ %-?%d+) ')
                if head then redis.call('HSET', key, field, head .. ' ' .. blob) end
              end
            end
            -- A visit copied in from a neighbouring bucket counts against the cap like a new one;
            -- past it the visit is still answered, just not copied.
            local present = redis.call('HEXISTS', own, field) == 1
            if present or tonumber(redis.call('HGET', own, '#') or '0') < cap then
              redis.call('HSET', own, field, found[1] .. ' ' .. math.min(found[2], ts) .. ' ' .. math.max(found[3], ts) .. ' ' .. kept)
              if not present then redis.call('HINCRBY', own, '#', 1) end
              redis.call('PEXPIRE', own, ttl)
            end
            out[#out + 1] = found[1]
            out[#out + 1] = answer
            out[#out + 1] = via
          elseif tonumber(redis.call('HGET', own, '#') or '0') < cap and tonumber(redis.call('HGET', own, '#' .. site) or '0') < siteCap then
            redis.call('HSET', own, field, fresh .. ' ' .. ts .. ' ' .. ts .. ' ' .. blob)
            redis.call('HINCRBY', own, '#', 1)
            redis.call('HINCRBY', own, '#' .. site, 1)
            redis.call('PEXPIRE', own, ttl)
            out[#out + 1] = fresh
            out[#out + 1] = ''
            out[#out + 1] = ''
          else
            out[#out + 1] = ''
            out[#out + 1] = ''
            out[#out + 1] = ''
          end
        end
        return out
        """#)
}
