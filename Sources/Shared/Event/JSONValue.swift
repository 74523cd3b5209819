/// A JSON value whose objects keep their key order, for answers that read like the docs.
public indirect enum JSONValue: Sendable, Equatable {
    /// A string.
    case string(String)
    /// An integer.
    case int(Int)
    /// A finite floating-point number.
    case double(Double)
    /// A boolean.
    case bool(Bool)
    /// null.
    case null
    /// An array.
    case array([JSONValue])
    /// An object, keys in the order given.
    case object([(String, JSONValue)])

    /// Equal when they serialize alike.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        lhs.serialized == rhs.serialized
    }

    /// Compact JSON text.
    public var serialized: String { String(decoding: bytes, as: UTF8.self) }

    /// Compact JSON as UTF-8 bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out)
        return out
    }

    /// Appends compact JSON to `out`, bytes at a time: this runs once per ingested event.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .string(let s): Self.writeString(s, into: &out)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            var writer = MemberWriter(out: consume out)
            for (key, value) in members { writer.value(key, value) }
            out = writer.close()
        }
    }

    /// A JSON string: runs of bytes that need no escape are copied whole; UTF-8 passes through.
    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: utf8[runStart..<index])
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): out.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): out.append(contentsOf: #"\t"#.utf8)
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: utf8[runStart...])
        }
        out.append(UInt8(ascii: "\""))
    }
}

extension ValidationError {
    /// `{"code":…,"message":…,"field":…}`, field only when there is one.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if let field { members.append(("field", .string(field))) }
        return .object(members)
    }
}

extension StatsReport {
    /// Seed 004's `stats` object, keys in its order.
    public var json: JSONValue {
        .object([
            ("site_id", .string(siteID)), ("date", .string(date)), ("total_views", .int(totalViews)),
            ("unique_users", .int(uniqueUsers)),
            ("top_paths", .array(topPaths.map {
                .object([("path", .string($0.path)), ("views", .int($0.views)), ("unique_users", .int($0.uniqueUsers))])
            })),
        ])
    }
}

extension Event {
    /// The event as the queue carries it: the `Codable` shape, written without `JSONEncoder`
    /// (ingest writes one per event; the worker reads it with `QueueEnvelope.decode`).
    public var queuePayload: [UInt8] { queuePayload(adding: []) }

    /// The queue payload with `extra` members after the event's (retry attempts, throttle marks),
    /// written straight into bytes: ingest writes one per event, so no `JSONValue` tree is built.
    public func queuePayload(adding extra: [(String, JSONValue)]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + (path?.utf8.count ?? 0) + (client?.ua?.utf8.count ?? 0) + (client?.url?.utf8.count ?? 0))
        var writer = MemberWriter(out: consume out)
        writer.string("event_id", eventID)
        writer.string("site_id", siteID)
        writer.string("event_type", eventType)
        if let path { writer.string("path", path) }
        if let userID { writer.string("userid", userID) }
        writer.int("timestamp", timestamp)
        writer.int("received_at", receivedAt)
        if let props {
            writer.key("props")
            var inner = MemberWriter(out: writer.take())
            for (key, value) in props.sorted(by: { $0.key < $1.key }) { inner.value(key, value.json) }
            writer.out = inner.close()
        }
        if let name { writer.string("name", name) }
        if let client {
            writer.key("client")
            var inner = MemberWriter(out: writer.take())
            if let ip = client.ip { inner.string("ip", ip) }
            if let ua = client.ua { inner.string("ua", ua) }
            if let url = client.url { inner.string("url", url) }
            if let ref = client.ref { inner.string("ref", ref) }
            writer.out = inner.close()
        }
        if let visit { writer.value("visit", .object(visit.members)) }
        for (key, value) in extra { writer.value(key, value) }
        return writer.close()
    }
}

/// Writes one JSON object's members into bytes: `{`, then `"key":value` pairs, then `}`.
private struct MemberWriter {
    var out: [UInt8]
    private var first = true

    init(out: [UInt8]) {
        self.out = out
        self.out.append(UInt8(ascii: "{"))
    }

    mutating func key(_ key: String) {
        if !first { out.append(UInt8(ascii: ",")) }
        first = false
        JSONValue.writeString(key, into: &out)
        out.append(UInt8(ascii: ":"))
    }

    mutating func string(_ key: String, _ value: String) {
        self.key(key)
        JSONValue.writeString(value, into: &out)
    }

    mutating func int(_ key: String, _ value: Int64) {
        self.key(key)
        out.append(contentsOf: String(value).utf8)
    }

    mutating func value(_ key: String, _ value: JSONValue) {
        self.key(key)
        value.write(into: &out)
    }

    /// The bytes so far, handed to a nested writer (no copy: the buffer moves).
    mutating func take() -> [UInt8] {
        defer { out = [] }
        return out
    }

    /// The bytes with the closing `}`.
    mutating func close() -> [UInt8] {
        out.append(UInt8(ascii: "}"))
        return take()
    }
}
