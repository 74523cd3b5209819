/// One hour of one site, aggregated: the totals, a table per property, one per custom
/// property key. Derived from raw events only; see `Aggregator` for what each count means.
public struct HourRollup: Sendable, Equatable {
    /// The hour's start, Unix milliseconds (UTC, on the hour).
    public var hour: Int64
    /// Every event and visit of the hour, ungrouped.
    public var totals = Cell()
    /// Cells by value, per property of `Property.fixed`.
    public var tables: [Property: [String: Cell]] = [:]
    /// Cells by value, per custom property key.
    public var props: [String: [String: Cell]] = [:]

    /// An empty hour.
    public init(hour: Int64) { self.hour = hour }

    /// Most values one table of an hour may hold, most custom keys an hour may hold: past
    /// either, the hour is too varied to keep and is aggregated from raw events when asked.
    public static let maxValues = 20_000, maxPropKeys = 100
}

/// The binary form of cells and tables in rollup documents: unsigned LEB128 varints and
/// length-prefixed bytes. Decoding is bounds-checked and returns nil for anything malformed.
public enum RollupCodec {
    /// Encodes one cell.
    public static func encode(_ cell: Cell, into bytes: inout [UInt8]) {
        let sketch = cell.visitors.encoded()
        varint(UInt64(sketch.count), into: &bytes)
        bytes += sketch
        for value in [cell.visits, cell.pageviews, cell.events, cell.bounces] { varint(UInt64(max(0, value)), into: &bytes) }
        varint(UInt64(max(0, cell.durationMillis)), into: &bytes)
    }

    /// Encodes a table of cells by value, values sorted so equal tables encode equally.
    public static func encode(_ table: [String: Cell]) -> [UInt8] {
        var bytes: [UInt8] = []
        varint(UInt64(table.count), into: &bytes)
        for (value, cell) in table.sorted(by: { $0.key < $1.key }) {
            let text = Array(value.utf8)
            varint(UInt64(text.count), into: &bytes)
            bytes += text
            encode(cell, into: &bytes)
        }
        return bytes
    }

    /// Encodes the custom-property tables.
    public static func encode(props: [String: [String: Cell]]) -> [UInt8] {
        var bytes: [UInt8] = []
        varint(UInt64(props.count), into: &bytes)
        for (key, table) in props.sorted(by: { $0.key < $1.key }) {
            let text = Array(key.utf8), encoded = encode(table)
            varint(UInt64(text.count), into: &bytes)
            bytes += text
            varint(UInt64(encoded.count), into: &bytes)
            bytes += encoded
        }
        return bytes
    }

    /// Decodes a whole cell.
    public static func cell(from bytes: ArraySlice<UInt8>) -> Cell? {
        var reader = ByteReader(bytes)
        guard let stored = storedCell(&reader), reader.isAtEnd else { return nil }
        var cell = Cell()
        cell.merge(stored)
        return cell
    }

    /// Decodes a table (for tests and tools: reads merge stored tables without decoding them).
    /// Values stored twice, which `encode` never writes, are merged.
    public static func table(from bytes: ArraySlice<UInt8>) -> [String: Cell]? {
        guard let stored = storedTable(bytes) else { return nil }
        var table: [String: Cell] = [:]
        table.reserveCapacity(stored.count)
        for (value, storedCell) in stored { table[String(decoding: value, as: UTF8.self), default: Cell()].merge(storedCell) }
        return table
    }

    /// Decodes the custom-property tables.
    public static func props(from bytes: ArraySlice<UInt8>) -> [String: [String: Cell]]? {
        guard let stored = storedProps(bytes) else { return nil }
        var props: [String: [String: Cell]] = [:]
        for (key, tableBytes) in stored {
            guard let table = table(from: tableBytes) else { return nil }
            props[String(decoding: key, as: UTF8.self)] = table
        }
        return props
    }

    // MARK: Merging stored tables without building them

    /// A cell as stored: its visitors still encoded, its counters read.
    struct StoredCell {
        /// The visitors' sketch, encoded (checked by `VisitorSketch.checked(encoded:)`).
        var sketch: ArraySlice<UInt8>
        /// The sketch as the check built it (dense and sparse forms), so a merge builds it once.
        var built: VisitorSketch? = nil
        /// The counters of `Cell`, as stored.
        var visits = 0, pageviews = 0, events = 0, bounces = 0
        /// The visits' summed duration, milliseconds.
        var durationMillis: Int64 = 0

        /// True for the empty totals an hour without events or visits stores.
        var isEmpty: Bool { Cell.isEmpty(events: events, visits: visits) }
    }

    /// The largest counter a stored cell may hold (`Cell.maxCounter`); sums saturate past `Int.max`.
    static let maxCounter = UInt64(Cell.maxCounter)

    /// Reads one stored cell from the front of `reader`, its sketch checked but not built;
    /// nil when malformed.
    static func storedCell(_ reader: inout ByteReader) -> StoredCell? {
        guard let sketchLength = reader.varint(), let sketch = reader.bytes(Int(clamping: sketchLength)),
            let checked = VisitorSketch.checked(encoded: sketch),
            let visits = reader.varint(), let pageviews = reader.varint(), let events = reader.varint(),
            let bounces = reader.varint(), let duration = reader.varint(),
            max(visits, pageviews, events, bounces) <= maxCounter, duration <= maxCounter * 1000
        else { return nil }
        let built: VisitorSketch? = if case .built(let sketch) = checked { sketch } else { nil }
        return StoredCell(
            sketch: sketch, built: built, visits: Int(clamping: visits), pageviews: Int(clamping: pageviews), events: Int(clamping: events),
            bounces: Int(clamping: bounces), durationMillis: Int64(clamping: duration))
    }

    /// The cells of a stored table with their values' bytes; nil when any part is malformed
    /// (so a caller merges all of a table or none of it).
    static func storedTable(_ bytes: ArraySlice<UInt8>) -> [(value: ArraySlice<UInt8>, cell: StoredCell)]? {
        var reader = ByteReader(bytes)
        guard let count = reader.varint(), count <= UInt64(HourRollup.maxValues) else { return nil }
        var cells: [(value: ArraySlice<UInt8>, cell: StoredCell)] = []
        cells.reserveCapacity(min(Int(count), bytes.count / 12))  // a stored cell takes at least 12 bytes
        for _ in 0..<count {
            guard let length = reader.varint(), let text = reader.bytes(Int(clamping: length)), let cell = storedCell(&reader) else { return nil }
            cells.append((text, cell))
        }
        return reader.isAtEnd ? cells : nil
    }

    /// The keys of stored custom-property tables with their tables' bytes (not checked);
    /// nil when the framing is malformed.
    static func storedProps(_ bytes: ArraySlice<UInt8>) -> [(key: ArraySlice<UInt8>, table: ArraySlice<UInt8>)]? {
        var reader = ByteReader(bytes)
        guard let count = reader.varint(), count <= UInt64(HourRollup.maxPropKeys) else { return nil }
        var props: [(key: ArraySlice<UInt8>, table: ArraySlice<UInt8>)] = []
        for _ in 0..<count {
            guard let length = reader.varint(), let key = reader.bytes(Int(clamping: length)),
                let tableLength = reader.varint(), let table = reader.bytes(Int(clamping: tableLength))
            else { return nil }
            props.append((key, table))
        }
        return reader.isAtEnd ? props : nil
    }

    /// The bytes of custom property `key`'s table in stored custom-property tables: an empty
    /// slice when the hour has no such key, nil when the framing is malformed (a stored table is
    /// never empty: an empty one is encoded as one byte). Keys compare as `String`s do
    /// (canonically), as the raw path compares them.
    static func propTable(_ bytes: ArraySlice<UInt8>, key: String) -> ArraySlice<UInt8>? {
        guard let props = storedProps(bytes) else { return nil }
        guard let table = props.last(where: { String(decoding: $0.key, as: UTF8.self) == key })?.table else { return [] }
        return table.isEmpty ? nil : table
    }

    static func varint(_ value: UInt64, into bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}

/// Reads varints and byte runs from the front of a buffer, never past its end.
struct ByteReader {
    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    var isAtEnd: Bool { bytes.isEmpty }

    /// The next varint; nil when truncated or longer than 64 bits.
    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            guard shift < 64 else { return nil }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    /// The next `count` bytes; nil when fewer are left.
    mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, count <= bytes.count else { return nil }
        let run = bytes.prefix(count)
        bytes = bytes.dropFirst(count)
        return run
    }
}

extension Cell {
    /// Adds a stored cell (`RollupCodec.storedCell`) to this cell, its visitors merged from their bytes.
    mutating func merge(_ stored: RollupCodec.StoredCell) {
        if let built = stored.built { visitors.merge(built) } else { visitors.merge(encoded: stored.sketch) }
        add(visits: stored.visits, pageviews: stored.pageviews, events: stored.events, bounces: stored.bounces, durationMillis: stored.durationMillis)
    }
}
