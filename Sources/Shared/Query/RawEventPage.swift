/// Where a walk over a site's raw events stands, in their order `(timestamp, _id)`: after the
/// event `id` at `timestamp`, or, without an id, before every event at `timestamp`.
///
/// Clients see it as opaque base64url text (`next_cursor`). A cursor names a position, never a
/// row to fetch: a later page shows the events with `timestamp > t OR (timestamp == t AND
/// _id > id)`, so none is shown twice and none present when the walk began is skipped. Events
/// that arrive later behind the cursor (earlier timestamps) are not shown to that walk.
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
    public static let instants: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

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
        var parts = plain.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).makeIterator()
        guard parts.next() == "1", let time = parts.next(), Self.isInteger(time), let timestamp = Int64(time),
              Self.instants.contains(timestamp)
        else { throw refusal }
        var id: String?
        if let rest = parts.next() {
            let given = String(rest)
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

/// One read a walk asks of the store. Its time bounds are always whole seconds, and every
/// finer comparison (milliseconds, `_id` after a cursor) is made in Swift: nx-27017 compares
/// dates to the second only (it sorts them to the millisecond), and with whole-second bounds
/// it answers exactly as MongoDB does.
public enum RawEventFetch: Sendable, Equatable {
    /// Events in `[from, before)`, in timestamp order (ties in any order: an index on
    /// `(site_id, timestamp)` gives this order without sorting), at most `limit`.
    case range(from: Int64, before: Int64, limit: Int)
    /// Events of the second starting at `second` whose `_id` is above `after` (all when nil),
    /// in `_id` order, at most `limit`: to read a second holding more events than one read.
    case second(Int64, after: String?, limit: Int)

    /// The MongoDB filter (extended JSON; every value quoted) for `siteID`.
    public func filterJSON(siteID: String) -> String {
        let site = JSONValue.string(siteID).serialized
        switch self {
        case .range(let from, let before, _):
            return #"{"site_id": \#(site), "timestamp": {"$gte": \#(Self.date(from)), "$lt": \#(Self.date(before))}}"#
        case .second(let second, let after, _):
            let id = after.map { #", "_id": {"$gt": \#(JSONValue.string($0).serialized)}"# } ?? ""
            return #"{"site_id": \#(site), "timestamp": {"$gte": \#(Self.date(second)), "$lt": \#(Self.date(second + 1000))}\#(id)}"#
        }
    }

    /// The sort: by timestamp for a range, by `_id` within a second.
    public var sortJSON: String {
        switch self {
        case .range: #"{"timestamp": 1}"#
        case .second: #"{"_id": 1}"#
        }
    }

    /// At most this many events.
    public var limit: Int {
        switch self {
        case .range(_, _, let limit), .second(_, _, let limit): limit
        }
    }

    /// Extended JSON for a BSON date.
    static func date(_ millis: Int64) -> String { #"{"$date": {"$numberLong": "\#(millis)"}}"# }
}

/// A walk over the raw events of a period in `(timestamp, _id)` order, a chunk at a time, with
/// memory bounded by the chunk whatever the period holds.
///
/// Each read covers a window of whole seconds after the position, so no read asks the store
/// for more than a window's events (a store without a usable index reads every match of a
/// query before it limits). The window doubles while reads come back short and halves when
/// they come back full, so it follows how dense the events are. A full read may end inside a
/// second; that second is dropped and read next. A second holding more events than one read is
/// read whole, `limit` at a time by `_id`, and sorted here: memory then follows the busiest
/// second, not the period.
public struct RawEventWalk: Sendable {
    /// The period, `[start, end)`.
    public let range: TimeRange
    /// Where the walk stands: what the next chunk comes after.
    public private(set) var position: RawEventCursor
    /// The span of time the next read covers, milliseconds (whole seconds).
    public private(set) var window: Int64

    /// Windows never shrink below a second nor grow past about 30 years.
    static let windows: ClosedRange<Int64> = 1000...1_000_000_000_000

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
    /// Reads ask for at least `minimumRead` events, so a small `limit` does not mean many reads.
    public mutating func next<Failure: Error>(
        limit: Int, fetch: (RawEventFetch) async throws(Failure) -> [RawEvent]
    ) async throws(Failure) -> [RawEvent] {
        let limit = max(1, limit)
        let readLimit = max(limit, Self.minimumRead)
        while !isFinished {
            let from = Self.second(of: position.timestamp)
            let (sum, overflow) = from.addingReportingOverflow(window)
            let upper = min(overflow ? Int64.max : sum, Self.second(of: range.end - 1) + 1000)
            let rows = try await fetch(.range(from: from, before: upper, limit: readLimit))
            let kept: [RawEvent]
            let through: Int64
            if rows.count < readLimit {
                // The window is read to its end.
                window = Self.bounded(window * (rows.count < readLimit / 2 ? 4 : 2))
                (kept, through) = (keep(rows), upper)
            } else {
                window = Self.bounded(window / 2)
                let lastSecond = Self.second(of: rows.map(\.timestamp).max() ?? from)
                if lastSecond > from {
                    // Every second before the last is whole in this read.
                    (kept, through) = (keep(rows.filter { $0.timestamp < lastSecond }), lastSecond)
                } else {
                    // One second fills the read: read it whole, by `_id`.
                    (kept, through) = (keep(try await Self.wholeSecond(from, limit: readLimit, fetch: fetch)), from + 1000)
                }
            }
            if kept.count > limit, let last = kept.prefix(limit).last {
                position = last.cursor
                return Array(kept.prefix(limit))
            }
            position = RawEventCursor(timestamp: min(through, range.end))
            if !kept.isEmpty { return kept }
        }
        return []
    }

    /// Reads ask for at least this many events.
    static let minimumRead = 100

    /// Every event of the second starting at `second`, read `limit` at a time in `_id` order.
    private static func wholeSecond<Failure: Error>(
        _ second: Int64, limit: Int, fetch: (RawEventFetch) async throws(Failure) -> [RawEvent]
    ) async throws(Failure) -> [RawEvent] {
        var events: [RawEvent] = []
        var after: String?
        while true {
            let part = try await fetch(.second(second, after: after, limit: limit))
            events += part
            // A short read ends it, and so would a store not moving on (never with MongoDB).
            guard part.count >= limit, let top = part.map(\.id).max(by: RawEvent.idPrecedes),
                  after.map({ RawEvent.idPrecedes($0, top) }) ?? true
            else { return events }
            after = top
        }
    }

    /// The events of `rows` after the position and inside the period, in the walk's order.
    private func keep(_ rows: [RawEvent]) -> [RawEvent] {
        rows.filter { $0.timestamp < range.end && position.precedes(timestamp: $0.timestamp, id: $0.id) }.sorted(by: RawEvent.walkOrder)
    }

    /// The start of the second holding `millis`.
    static func second(of millis: Int64) -> Int64 {
        let (quotient, remainder) = millis.quotientAndRemainder(dividingBy: 1000)
        return (remainder < 0 ? quotient - 1 : quotient) * 1000
    }

    /// `window` in whole seconds within `windows`.
    static func bounded(_ window: Int64) -> Int64 { min(max(window, windows.lowerBound), windows.upperBound) / 1000 * 1000 }
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
