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
    public var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    /// Compact JSON as UTF-8 bytes.
    public var bytes: [UInt8] { Array(serialized.utf8) }

    private func write(into out: inout String) {
        switch self {
        case .string(let s): Self.writeString(s, into: &out)
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
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
    /// (ingest writes one per request; the worker decodes it with `JSONDecoder`).
    public var queuePayload: [UInt8] {
        var members: [(String, JSONValue)] = [
            ("event_id", .string(eventID)), ("site_id", .string(siteID)), ("event_type", .string(eventType)),
        ]
        if let path { members.append(("path", .string(path))) }
        if let userID { members.append(("userid", .string(userID))) }
        members.append(("timestamp", .int(Int(timestamp))))
        members.append(("received_at", .int(Int(receivedAt))))
        if let props {
            members.append(("props", .object(props.keys.sorted().map { key in
                switch props[key]! {
                case .string(let v): (key, .string(v))
                case .int(let v): (key, .int(Int(v)))
                case .double(let v): (key, .double(v))
                case .bool(let v): (key, .bool(v))
                }
            })))
        }
        return JSONValue.object(members).bytes
    }
}
