/// Raw events as CSV (RFC 4180) and NDJSON lines, written into byte buffers a chunk at a time.
///
/// CSV: a header row, then one row per event, lines ending CRLF; a cell holding a comma, a
/// quote, CR or LF is quoted, its quotes doubled. `props` is one column holding the JSON
/// object. Spreadsheet formula injection is neutralised: a cell starting with `=`, `+`, `-`,
/// `@`, tab or CR gets a leading `'` (OWASP's advice), unless the whole cell is a plain number
/// such as `-42` or `-1.5` (a negative visitor id stays a number). The `'` is visible to
/// programs that read the file as data: they should strip it from such cells.
public enum RawEventFormat: String, Sendable, CaseIterable {
    /// Comma-separated values with a header row.
    case csv
    /// One JSON object per line.
    case ndjson

    /// The `Content-Type` of the answer.
    public var contentType: String {
        switch self {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        }
    }

    /// What comes before the first event: the CSV header row, nothing for NDJSON.
    public var header: [UInt8] {
        switch self {
        case .csv: Array((RawEvent.columns.joined(separator: ",") + "\r\n").utf8)
        case .ndjson: []
        }
    }

    /// Appends `event` as one line to `out`.
    public func write(_ event: RawEvent, into out: inout [UInt8]) {
        switch self {
        case .ndjson:
            event.json.write(into: &out)
            out.append(UInt8(ascii: "\n"))
        case .csv:
            for (_, value) in event.cells {
                if let value { Self.writeCell(value, into: &out) }
                out.append(UInt8(ascii: ","))
            }
            out.append(contentsOf: String(event.count).utf8)
            out.append(UInt8(ascii: ","))
            Self.writeCell(JSONValue.object(event.props.map { ($0.key, $0.value) }).serialized, into: &out)
            out.append(contentsOf: [UInt8(ascii: "\r"), UInt8(ascii: "\n")])
        }
    }

    /// One CSV cell: neutralised if it could start a formula, quoted if it must be.
    public static func writeCell(_ value: String, into out: inout [UInt8]) {
        let text = neutralised(value)
        let needsQuotes = text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
        guard needsQuotes else {
            out.append(contentsOf: text.utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\"") { out.append(byte) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `value`, with a leading `'` when a spreadsheet would read it as a formula.
    public static func neutralised(_ value: String) -> String {
        guard let first = value.utf8.first, formulaStarts.contains(first), !isPlainNumber(value) else { return value }
        return "'" + value
    }

    private static let formulaStarts: Set<UInt8> = [
        UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: "\t"), UInt8(ascii: "\r"),
    ]

    /// `-?[0-9]+(\.[0-9]+)?`: a number, which no spreadsheet runs as a formula.
    static func isPlainNumber(_ value: String) -> Bool {
        var bytes = Substring(value).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), bytes.last != UInt8(ascii: ".") else { return false }
        return parts.allSatisfy { part in !part.isEmpty && part.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
    }
}
