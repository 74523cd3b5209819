import Crypto
import Foundation
import NIOConcurrencyHelpers

/// What a visit keeps from its first event: every later event of the visit carries it, so an
/// internal click never turns into a new source.
public struct VisitAttributes: Sendable, Equatable, Codable {
    /// `Direct / None` when nothing names one.
    public var source: String
    /// Host and path of the visit's referrer.
    public var referrer: String?
    /// The visit's UTM parameters.
    public var utmMedium: String?, utmSource: String?, utmCampaign: String?, utmContent: String?, utmTerm: String?

    /// The attributes of a visit that starts with `traffic`.
    public init(_ traffic: TrafficSource) {
        source = traffic.source
        referrer = traffic.referrer
        utmMedium = traffic.utm.medium
        utmSource = traffic.utm.source
        utmCampaign = traffic.utm.campaign
        utmContent = traffic.utm.content
        utmTerm = traffic.utm.term
    }

    enum CodingKeys: String, CodingKey {
        case source = "s", referrer = "r", utmMedium = "um", utmSource = "us", utmCampaign = "uc", utmContent = "ut", utmTerm = "uk"
    }
}

/// One event to place in a visit.
public struct SessionRequest: Sendable {
    /// The event's site.
    public var siteID: String
    /// Its visitor.
    public var visitorID: Int64
    /// When it happened, Unix ms: visits are cut by inactivity in event time.
    public var timestamp: Int64
    /// The id of the visit if this event starts one: derived from the event, so a redelivered
    /// first event starts the same visit.
    public var freshID: Int64
    /// Its own source, kept if it starts a visit.
    public var attributes: VisitAttributes

    /// A request from its parts.
    public init(siteID: String, visitorID: Int64, timestamp: Int64, freshID: Int64, attributes: VisitAttributes) {
        self.siteID = siteID
        self.visitorID = visitorID
        self.timestamp = timestamp
        self.freshID = freshID
        self.attributes = attributes
    }
}

/// The visit an event belongs to.
public struct SessionAssignment: Sendable, Equatable {
    /// The visit.
    public var sessionID: Int64
    /// The visit's source, from its first event.
    public var attributes: VisitAttributes
    /// False when the visit table was full: the id is then derived from the visitor and the
    /// 30-minute window alone, and the event keeps its own source.
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
    /// Most visits tracked per 30-minute bucket, all sites together (memory bound); past it
    /// visits are still assigned, statelessly (see `SessionAssignment.tracked`).
    public let maxPerBucket: Int
    private let salts = NIOLockedValueBox<[Int64: [UInt8]]>([:])

    /// A visit ends after this long without an event from its visitor.
    public static let sessionTimeoutMillis: Int64 = 30 * 60 * 1000
    /// How long a salt outlives its day: events received on a day are hashed with that day's
    /// salt even when a backlog is stored up to 48 hours later.
    public static let saltGraceMillis: Int64 = 48 * 3_600_000
    /// The shortest life of a salt from when it is made.
    static let minimumSaltLifetimeMillis: Int64 = 3_600_000
    /// Visit buckets live this long after their last write: the bucket, its two neighbours.
    static let bucketTTLMillis: Int64 = 3 * sessionTimeoutMillis
    private static let dayMillis: Int64 = 86_400_000

    /// A tracker over `redis`.
    public init(redis: RedisClient, keys: QueueKeys, maxPerBucket: Int) {
        self.redis = redis
        self.keys = keys
        self.maxPerBucket = maxPerBucket
    }

    /// The salt of UTC day `day`: read or, by the first worker to need it, made (`SET NX`),
    /// then kept in memory (the last few days only). It lives until 48 hours after its day, and
    /// at least an hour from `now` (a day long past, met in a replay, gets a salt all agree on).
    public func salt(day: Int64, now: Int64) async throws(RedisError) -> [UInt8] {
        if let known = salts.withLockedValue({ $0[day] }) { return known }
        var generator = SystemRandomNumberGenerator()
        let fresh = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }.lowercaseHex
        let lifetime = max((day + 1) * Self.dayMillis + Self.saltGraceMillis - now, Self.minimumSaltLifetimeMillis)
        let reply = try await redis.send(RedisCommand("SET", [keys.salt(day: day), fresh, "NX", "GET", "PX", String(lifetime)])).orThrow()
        let salt = Array((reply.string ?? fresh).utf8)  // null: ours was set; else the one already there
        salts.withLockedValue { cache in
            cache[day] = salt
            for old in cache.keys where old < day - 3 { cache[old] = nil }
        }
        return salt
    }

    /// The visitor: a keyed hash of the day's salt, the site, the address and the user agent,
    /// or, when the client names its user, of the site and `userid` (the same on every day).
    public static func visitorID(salt: [UInt8], siteID: String, address: String, userAgent: String, userID: String?) -> Int64 {
        if let userID {
            return firstWord(SHA256.hash(data: Array(("user\u{0}" + siteID + "\u{0}" + userID).utf8)))
        }
        let message = Array((siteID + "\u{0}" + address + "\u{0}" + userAgent).utf8)
        return firstWord(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: salt)))
    }

    /// The id of a visit started by `eventID` of `visitorID`, or with `window` of a visit not tracked.
    public static func sessionID(visitorID: Int64, seed: String) -> Int64 {
        firstWord(SHA256.hash(data: Array((String(visitorID) + "\u{0}" + seed).utf8)))
    }

    private static func firstWord(_ digest: some Sequence<UInt8>) -> Int64 {
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    /// Places each event in a visit, in order, in one atomic script: an event within 30 minutes
    /// of a visit of its visitor (either side, so late events join too) extends it; otherwise it
    /// starts one with its `freshID`. Idempotent for a redelivered batch.
    public func assign(_ requests: [SessionRequest]) async throws(RedisError) -> [SessionAssignment] {
        guard !requests.isEmpty else { return [] }
        var scriptKeys: [String] = []
        var arguments: [[UInt8]] = [
            Array(String(Self.sessionTimeoutMillis).utf8), Array(String(maxPerBucket).utf8), Array(String(Self.bucketTTLMillis).utf8),
        ]
        let encoder = JSONEncoder()
        for request in requests {
            let bucket = Self.bucket(of: request.timestamp)
            scriptKeys += [keys.visits(bucket: bucket - 1), keys.visits(bucket: bucket), keys.visits(bucket: bucket + 1)]
            let blob = (try? encoder.encode(request.attributes)).map { Array($0) } ?? Array(#"{"s":"Direct / None"}"#.utf8)
            arguments += [
                Array((request.siteID + "|" + String(request.visitorID)).utf8), Array(String(request.timestamp).utf8),
                Array(String(request.freshID).utf8), blob,
            ]
        }
        let reply = try await redis.run(Self.assignScript, keys: scriptKeys, arguments: arguments)
        guard let items = reply.elements, items.count == requests.count * 2 else {
            throw .unexpectedReply("visit assignment answered \(reply), expected \(requests.count * 2) items")
        }
        let decoder = JSONDecoder()
        return requests.enumerated().map { index, request in
            let sid = items[index * 2].string ?? ""
            let blob = items[index * 2 + 1].bytes ?? []
            guard let sessionID = Int64(sid) else {
                return SessionAssignment(
                    sessionID: Self.sessionID(visitorID: request.visitorID, seed: "window:" + String(Self.bucket(of: request.timestamp))),
                    attributes: request.attributes, tracked: false)
            }
            let attributes = blob.isEmpty ? request.attributes : ((try? decoder.decode(VisitAttributes.self, from: Data(blob))) ?? request.attributes)
            return SessionAssignment(sessionID: sessionID, attributes: attributes, tracked: true)
        }
    }

    /// The 30-minute bucket of event time `timestamp` falls in.
    static func bucket(of timestamp: Int64) -> Int64 {
        timestamp >= 0 ? timestamp / sessionTimeoutMillis : (timestamp - sessionTimeoutMillis + 1) / sessionTimeoutMillis
    }

    /// KEYS: per event, its bucket's previous, own and next visit hash. ARGV: timeout, cap,
    /// bucket TTL, then per event: field (`site|visitor`), time, fresh id, attributes JSON.
    /// A hash value is `id first last attributes`. Per event: its visit id and the visit's
    /// attributes (`""` when they are the event's own); an empty id when the bucket is full.
    static let assignScript = RedisScript(#"""
        local window, cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local out = {}
        local n = (#ARGV - 3) / 4
        for i = 0, n - 1 do
          local a = 4 + i * 4
          local field, ts, fresh, blob = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
          local own = KEYS[i * 3 + 2]
          local found
          for _, key in ipairs({own, KEYS[i * 3 + 1], KEYS[i * 3 + 3]}) do
            local value = redis.call('HGET', key, field)
            if value then
              local sid, first, last, rest = string.match(value, '^(%S+) (%-?%d+) (%-?%d+) (.*)$')
              first, last = tonumber(first), tonumber(last)
              if first and ts >= first - window and ts <= last + window then
                found = {sid, math.min(first, ts), math.max(last, ts), rest}
                break
              end
            end
          end
          if found then
            redis.call('HSET', own, field, found[1] .. ' ' .. found[2] .. ' ' .. found[3] .. ' ' .. found[4])
            redis.call('PEXPIRE', own, ttl)
            out[#out + 1] = found[1]
            out[#out + 1] = found[4]
          elseif redis.call('HLEN', own) < cap then
            redis.call('HSET', own, field, fresh .. ' ' .. ts .. ' ' .. ts .. ' ' .. blob)
            redis.call('PEXPIRE', own, ttl)
            out[#out + 1] = fresh
            out[#out + 1] = ''
          else
            out[#out + 1] = ''
            out[#out + 1] = ''
          end
        end
        return out
        """#)
}
