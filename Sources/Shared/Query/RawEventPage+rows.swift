/// One stored event as `/api/v1/events` and `/api/v1/export` show it. The client's address is
/// never among them (it is not stored). `userid` is: it is the site owner's own identifier.
public struct RawEvent: Sendable, Equatable {
    /// The stored `_id` (`site_id/event_id`): the tiebreak of the walk's order.
    public var id = ""
    /// The event id the client gave or ingest made.
    public var eventID = ""
    /// The site.
    public var siteID = ""
    /// When it happened, Unix milliseconds.
    public var timestamp: Int64 = 0
    /// Our event type (`page_view`, …).
    public var eventType = ""
    /// Plausible's name when the client gave one.
    public var name: String?
    /// The page path.
    public var path: String?
    /// The client's user id.
    public var userID: String?
    /// How many events it stands for (a throttled summary stands for several).
    public var count = 1
    /// The visitor and the visit; nil for events stored before visits existed.
    public var visitorID: Int64?, sessionID: Int64?
    /// The visit attributes and the page's host, by stored field name (`source`, `country`, …).
    public var attributes: [String: String] = [:]
    /// Custom properties with their types, in stored order.
    public var props: [(key: String, value: JSONValue)] = []

    /// An empty event.
    public init() {}

    /// The fields a walk reads (a find projection).
    public static let fields = ["_id", "event_id", "site_id", "timestamp", "event_type", "name", "path", "userid", "count", "visitor_id", "session_id", "props"]
        + EventRow.attributeFields

    /// Reads a stored event document; fields it does not know are ignored.
    public init(_ document: BSONReader) {
        for (key, value) in document {
            switch key {
            case "_id": id = value.text ?? ""
            case "event_id": eventID = value.text ?? ""
            case "site_id": siteID = value.text ?? ""
            case "timestamp": timestamp = value.int ?? 0
            case "event_type": eventType = value.text ?? ""
            case "name": name = value.text
            case "path": path = value.text
            case "userid": userID = value.text
            case "count": count = max(1, Int(clamping: value.int ?? 1))
            case "visitor_id": visitorID = value.int
            case "session_id": sessionID = value.int
            case "props":
                guard case .document(let nested) = value else { continue }
                for (propKey, propValue) in nested {
                    switch propValue {
                    case .string(let text): props.append((propKey, .string(text)))
                    case .int(let number): props.append((propKey, .int(Int(number))))
                    case .double(let number) where number.isFinite: props.append((propKey, .double(number)))
                    case .bool(let flag): props.append((propKey, .bool(flag)))
                    default: continue
                    }
                }
            default:
                if let text = value.text, Self.attributeSet.contains(key) { attributes[key] = text }
            }
        }
    }

    private static let attributeSet = Set(EventRow.attributeFields)

    /// Equal when every field is, props in order.
    public static func == (lhs: RawEvent, rhs: RawEvent) -> Bool {
        lhs.id == rhs.id && lhs.eventID == rhs.eventID && lhs.siteID == rhs.siteID && lhs.timestamp == rhs.timestamp
            && lhs.eventType == rhs.eventType && lhs.name == rhs.name && lhs.path == rhs.path && lhs.userID == rhs.userID
            && lhs.count == rhs.count && lhs.visitorID == rhs.visitorID && lhs.sessionID == rhs.sessionID
            && lhs.attributes == rhs.attributes && JSONValue.object(lhs.props.map { ($0.key, $0.value) }) == JSONValue.object(rhs.props.map { ($0.key, $0.value) })
    }

    /// The walk's order: by timestamp, then by `_id` as MongoDB compares strings (UTF-8 bytes).
    @Sendable public static func walkOrder(_ lhs: RawEvent, _ rhs: RawEvent) -> Bool {
        lhs.timestamp != rhs.timestamp ? lhs.timestamp < rhs.timestamp : idPrecedes(lhs.id, rhs.id)
    }

    /// True when `lhs` sorts before `rhs` byte by byte, as MongoDB's simple collation does.
    public static func idPrecedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Where a walk stands after this event.
    public var cursor: RawEventCursor { RawEventCursor(timestamp: timestamp, id: id) }

    /// What the stats engine reads of it, for filters: `event:*` conditions read the event,
    /// `visit:*` ones the visit fields stored with it.
    public var row: EventRow {
        var row = EventRow()
        row.timestamp = timestamp
        row.count = count
        row.eventType = eventType
        row.name = name
        row.path = path
        row.visitorID = visitorID
        row.sessionID = sessionID
        row.userID = userID
        row.props = Dictionary(props.map { ($0.key, Self.text($0.value)) }, uniquingKeysWith: { first, _ in first })
        row.attributes = attributes
        return row
    }

    /// Whether the event passes `filter`, the event taken as a visit of its own.
    public func passes(_ filter: Filter?) -> Bool {
        guard let filter else { return true }
        let row = row
        return filter.matches(row, in: Session(events: [row]))
    }

    /// Plausible's `event:name`: `pageview` for a page view, else the name, else the event type.
    public var plausibleName: String { row.eventName }

    /// The columns, in order, for CSV and JSON alike; `props` comes last.
    public static let columns = [
        "event_id", "site_id", "timestamp", "name", "event_type", "path", "hostname", "referrer", "source", "utm_source", "utm_medium",
        "utm_campaign", "utm_content", "utm_term", "browser", "browser_version", "os", "os_version", "device", "country", "visitor_id",
        "session_id", "userid", "count", "props",
    ]

    /// The values of `columns` but `props`: text, or nil when the event has none. Ids of
    /// visitors and visits are text: 64-bit integers lose digits in JavaScript numbers.
    var cells: [(String, String?)] {
        var cells: [(String, String?)] = [
            ("event_id", eventID), ("site_id", siteID), ("timestamp", Timestamp.formatISO8601(timestamp)), ("name", plausibleName),
            ("event_type", eventType), ("path", path),
        ]
        for field in ["hostname", "referrer", "source", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "browser",
                      "browser_version", "os", "os_version", "device", "country"] {
            cells.append((field, attributes[field]))
        }
        cells += [("visitor_id", visitorID.map(String.init)), ("session_id", sessionID.map(String.init)), ("userid", userID)]
        return cells
    }

    /// The event as one JSON object: absent fields are null, `count` a number, `props` an object.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = cells.map { ($0.0, $0.1.map(JSONValue.string) ?? .null) }
        members.append(("count", .int(count)))
        members.append(("props", .object(props.map { ($0.key, $0.value) })))
        return .object(members)
    }

    /// A prop value as the stats engine reads it.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): BSONValue.double(number).text ?? String(number)
        case .bool(let flag): flag ? "true" : "false"
        default: value.serialized
        }
    }
}
