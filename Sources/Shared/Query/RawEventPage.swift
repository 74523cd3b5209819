/// Where a walk over a site's raw events stands, in their order `(timestamp, _id)`: after the
/// event `id` at `timestamp`, or, without an id, before every event at `timestamp`.
///
/// Clients see it as opaque base64url text (`next_cursor`). A cursor names a position, never a
/// row to fetch: a later page asks `timestamp > t OR (timestamp == t AND _id > id)`, so rows
/// are never shown twice and none present when the walk began is skipped. Rows that arrive
/// later behind the cursor (earlier timestamps) are not shown to that walk.
public struct RawEventCursor: Sendable, Hashable {
    /// Unix milliseconds.
    public var timestamp: Int64
    /// The stored `_id` of the last event passed; nil for "before every event at `timestamp`".
    public var id: String?

    /// A position from its parts.
    public init(timestamp: Int64, id: String? = nil) {
        self.timestamp = timestamp
        self.id = id
    }

    /// Longest cursor text accepted, and longest `_id` one may carry (site 64 + `/` + event id 64).
    public static let maxEncodedBytes = 512, maxIDBytes = 256
    /// Instants a cursor may name: years 0001 to 9999.
    static let instants: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// The opaque text: base64url (no padding) of `1:<timestamp>[:<_id>]`.
    public var encoded: String {
        Base64URL.encode(Array(("1:" + String(timestamp) + (id.map { ":" + $0 } ?? "")).utf8))
    }

    /// Reads a cursor sent back by a client; anything this server did not write is a 400 saying
    /// to drop the cursor or use the last `next_cursor` as it was given.
    public init(encoded text: String) throws(StatsAPIError) {
        let refusal = StatsAPIError(
            "Invalid `cursor` parameter: use the `next_cursor` of the previous answer exactly as given, or leave `cursor` out to start from the beginning of the period.")
        guard !text.isEmpty, text.utf8.count <= Self.maxEncodedBytes, let bytes = Base64URL.decode(text),
              let plain = String(validating: bytes, as: UTF8.self)
        else { throw refusal }
        let parts = plain.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "1", Self.isInteger(parts[1]), let timestamp = Int64(parts[1]),
              Self.instants.contains(timestamp)
        else { throw refusal }
        var id: String?
        if parts.count == 3 {
            let given = String(parts[2])
            guard (1...Self.maxIDBytes).contains(given.utf8.count),
                  given.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else { throw refusal }
            id = given
        }
        self.init(timestamp: timestamp, id: id)
    }

    /// True for `-?[0-9]{1,19}`: what this server writes, nothing else `Int64(_:)` accepts (`+1`).
    private static func isInteger(_ text: Substring) -> Bool {
        let digits = text.hasPrefix("-") ? text.dropFirst() : text
        return (1...19).contains(digits.utf8.count) && digits.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// True when `self` comes before the event `(timestamp, id)` in the walk's order.
    public func precedes(timestamp other: Int64, id otherID: String) -> Bool {
        if timestamp != other { return timestamp < other }
        guard let id else { return true }
        return RawEvent.idPrecedes(id, otherID)
    }
}

/// One read a walk asks of the store.
public enum RawEventFetch: Sendable, Equatable {
    /// Events after `after` and before the instant `before`, in timestamp order (ties in any
    /// order: an index on `(site_id, timestamp)` gives this order without sorting), at most `limit`.
    case range(after: RawEventCursor, before: Int64, limit: Int)
    /// Events at exactly `timestamp` whose `_id` is above `after` (all when nil), in `_id`
    /// order, at most `limit`: to page through more ties than fit in one read.
    case ties(timestamp: Int64, after: String?, limit: Int)

    /// The MongoDB filter (extended JSON; every value quoted) for `siteID`.
    public func filterJSON(siteID: String) -> String {
        let site = JSONValue.string(siteID).serialized
        switch self {
        case .range(let after, let before, _):
            let bounds = #""timestamp": {"$gte": \#(Self.date(after.timestamp)), "$lt": \#(Self.date(before))}"#
            guard let id = after.id else { return #"{"site_id": \#(site), \#(bounds)}"# }
            let rest = #"[{"timestamp": {"$gt": \#(Self.date(after.timestamp))}}, {"_id": {"$gt": \#(JSONValue.string(id).serialized)}}]"#
            return #"{"site_id": \#(site), \#(bounds), "$or": \#(rest)}"#
        case .ties(let timestamp, let after, _):
            let id = after.map { #", "_id": {"$gt": \#(JSONValue.string($0).serialized)}"# } ?? ""
            return #"{"site_id": \#(site), "timestamp": \#(Self.date(timestamp))\#(id)}"#
        }
    }

    /// The sort: by timestamp for a range, by `_id` for ties.
    public var sortJSON: String {
        switch self {
        case .range: #"{"timestamp": 1}"#
        case .ties: #"{"_id": 1}"#
        }
    }

    /// At most this many events.
    public var limit: Int {
        switch self {
        case .range(_, _, let limit), .ties(_, _, let limit): limit
        }
    }

    /// Extended JSON for a BSON date.
    static func date(_ millis: Int64) -> String { #"{"$date": {"$numberLong": "\#(millis)"}}"# }
}

/// A walk over the raw events of a period in `(timestamp, _id)` order, a chunk at a time, with
/// memory bounded by the chunk whatever the period holds.
///
/// Each read covers a window of time after the position, so no read asks the store for more
/// than a window's events (a store without a usable index reads every match of a query before
/// it limits). The window doubles while reads come back short and halves when they come back
/// full, so it follows how dense the events are. A full read may end inside a run of events
/// sharing one millisecond; that run is dropped and read next, whole, or in `_id` order when
/// it alone fills a read.
public struct RawEventWalk: Sendable {
    /// The period, `[start, end)`.
    public let range: TimeRange
    /// Where the walk stands: what the next chunk comes after.
    public private(set) var position: RawEventCursor
    /// The span of time the next read covers, milliseconds.
    public private(set) var window: Int64

    /// Windows never shrink below a millisecond nor grow past about 30 years.
    static let windows: ClosedRange<Int64> = 1...1_000_000_000_000

    /// A walk over `range` from its start, or from after `cursor` (a cursor before the period
    /// starts the walk at its start; one past its end finishes it).
    public init(range: TimeRange, after cursor: RawEventCursor? = nil, window: Int64 = 3_600_000) {
        self.range = range
        if let cursor, cursor.timestamp >= range.start {
            position = cursor.timestamp >= range.end ? RawEventCursor(timestamp: range.end) : cursor
        } else {
            position = RawEventCursor(timestamp: range.start)
        }
        self.window = Self.bounded(window)
    }

    /// True once every event of the period up to the position has been passed.
    public var isFinished: Bool { position.timestamp >= range.end }

    /// The next events in order: at most `limit`, and at least one unless the walk is finished.
    public mutating func next<Failure: Error>(
        limit: Int, fetch: (RawEventFetch) async throws(Failure) -> [RawEvent]
    ) async throws(Failure) -> [RawEvent] {
        let limit = max(1, limit)
        while !isFinished {
            let (sum, overflow) = position.timestamp.addingReportingOverflow(window)
            let upper = overflow ? range.end : min(range.end, sum)
            let rows = try await fetch(.range(after: position, before: upper, limit: limit))
            if rows.count < limit {
                // The window is read to its end.
                position = RawEventCursor(timestamp: upper)
                window = Self.bounded(window.multipliedReportingOverflow(by: rows.count < limit / 2 ? 4 : 2).partialValue)
                if !rows.isEmpty { return rows.sorted(by: RawEvent.walkOrder) }
                continue
            }
            window = Self.bounded(window / 2)
            let last = rows.map(\.timestamp).max() ?? position.timestamp
            let whole = rows.filter { $0.timestamp < last }
            if !whole.isEmpty {
                position = RawEventCursor(timestamp: last)
                return whole.sorted(by: RawEvent.walkOrder)
            }
            // The read is one run of ties: page through it by `_id`.
            let after = position.timestamp == last ? position.id : nil
            let ties = try await fetch(.ties(timestamp: last, after: after, limit: limit)).sorted(by: RawEvent.walkOrder)
            guard let final = ties.last else {
                position = RawEventCursor(timestamp: last + 1)  // the run went away meanwhile
                continue
            }
            position = ties.count < limit ? RawEventCursor(timestamp: last + 1) : RawEventCursor(timestamp: last, id: final.id)
            return ties
        }
        return []
    }

    /// `window` brought within `windows`.
    static func bounded(_ window: Int64) -> Int64 { min(max(window, windows.lowerBound), windows.upperBound) }
}

/// Base64 with the URL-safe alphabet and no padding (RFC 4648 §5), decoded strictly.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// The text of `bytes`.
    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var group: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { group |= UInt32(byte) << (16 - 8 * offset) }
            for position in 0...chunk.count { out.append(alphabet[Int((group >> (18 - 6 * position)) & 0x3F)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of `text`; nil for any character outside the alphabet, padding, an impossible
    /// length, or stray bits in the last character (so each byte string has one spelling).
    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var group: UInt32 = 0
        var bits = 0
        for byte in input {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            group = (group << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((group >> UInt32(bits)) & 0xFF))
                group &= (1 << UInt32(bits)) - 1
            }
        }
        return group == 0 ? out : nil
    }
}
