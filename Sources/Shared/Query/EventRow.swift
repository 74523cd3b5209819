/// One stored event as the query engine reads it: what every metric and property needs.
public struct EventRow: Sendable, Equatable {
    /// When it happened, Unix milliseconds.
    public var timestamp: Int64 = 0
    /// How many events it stands for (a throttled summary stands for several).
    public var count = 1
    /// Our event type (`page_view`, …).
    public var eventType = ""
    /// Plausible's name when the client gave one.
    public var name: String?
    /// The page path.
    public var path: String?
    /// The visitor; nil for events stored before visits existed.
    public var visitorID: Int64?
    /// The visit; nil for events stored before visits existed.
    public var sessionID: Int64?
    /// The client's user id, when it sent one.
    public var userID: String?
    /// Custom properties, values as text.
    public var props: [String: String] = [:]
    /// The visit attributes and the page's host, by field name (`source`, `country`, …).
    public var attributes: [String: String] = [:]

    /// The stored fields the engine reads (a find projection).
    public static let fields = [
        "timestamp", "count", "event_type", "name", "path", "visitor_id", "session_id", "userid", "props",
    ] + attributeFields

    /// Stored string fields kept in `attributes`.
    public static let attributeFields = [
        "hostname", "referrer", "source", "utm_medium", "utm_source", "utm_campaign", "utm_content", "utm_term",
        "browser", "browser_version", "os", "os_version", "device", "country",
    ]

    /// An empty row.
    public init() {}

    /// Reads a stored event document; fields it does not know are ignored.
    public init(_ document: BSONReader) {
        for (key, value) in document {
            switch key {
            case "timestamp": timestamp = value.int ?? 0
            case "count": count = min(Cell.maxCounter, max(1, Int(clamping: value.int ?? 1)))
            case "event_type": eventType = value.text ?? ""
            case "name": name = value.text
            case "path": path = value.text
            case "visitor_id": visitorID = value.int
            case "session_id": sessionID = value.int
            case "userid": userID = value.text
            case "props":
                guard case .document(let nested) = value else { continue }
                for (propKey, propValue) in nested { if let text = propValue.text { props[propKey] = text } }
            default:
                if let text = value.text, Self.attributeSet.contains(key) { attributes[key] = text }
            }
        }
    }

    private static let attributeSet = Set(attributeFields)

    /// A stable 64-bit FNV-1a hash of the user id, to count distinct users in a sketch; nil
    /// without a user id.
    public var userKey: Int64? {
        guard let userID, !userID.isEmpty else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in userID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int64(bitPattern: hash)
    }

    /// True for a page view.
    public var isPageview: Bool { eventType == "page_view" }

    /// `event:name`: Plausible's name, else `pageview` for a page view, else the event type.
    public var eventName: String { name ?? (isPageview ? "pageview" : eventType) }

    /// The event's own value of an `event:*` property, or of a `visit:*` attribute it carries.
    public func value(of property: Property) -> String {
        switch property {
        case .page: path ?? ""
        case .name: eventName
        case .hostname: attributes["hostname"] ?? ""
        case .prop(let key): props[key] ?? "(none)"
        case .entryPage, .exitPage: path ?? ""
        case .source: attributes["source"] ?? "Direct / None"
        case .referrer: attributes["referrer"] ?? ""
        case .utmMedium: attributes["utm_medium"] ?? ""
        case .utmSource: attributes["utm_source"] ?? ""
        case .utmCampaign: attributes["utm_campaign"] ?? ""
        case .utmContent: attributes["utm_content"] ?? ""
        case .utmTerm: attributes["utm_term"] ?? ""
        case .device: attributes["device"] ?? ""
        case .browser: attributes["browser"] ?? ""
        case .browserVersion: attributes["browser_version"] ?? ""
        case .os: attributes["os"] ?? ""
        case .osVersion: attributes["os_version"] ?? ""
        case .country: attributes["country"] ?? ""
        }
    }
}

/// A visit: its events in time order, all of them (also those outside the period asked about).
public struct Session: Sendable {
    /// The visit's events, earliest first.
    public var events: [EventRow]

    /// A visit of `events` (sorted here).
    public init(events: [EventRow]) {
        self.events = events.sorted { ($0.timestamp, $0.eventType) < ($1.timestamp, $1.eventType) }
    }

    /// The first event's time.
    public var start: Int64 { events.first?.timestamp ?? 0 }
    /// The last event's time.
    public var end: Int64 { events.last?.timestamp ?? 0 }
    /// The visitor (the first event's).
    public var visitorID: Int64 { events.first?.visitorID ?? events.first?.sessionID ?? 0 }
    /// Page views, summaries counted for all they stand for.
    public var pageviews: Int { events.reduce(0) { $0 + ($1.isPageview ? $1.count : 0) } }
    /// Events of any kind.
    public var eventCount: Int { events.reduce(0) { $0 + $1.count } }
    /// Plausible's bounce: the visit is a single page view and nothing else.
    public var isBounce: Bool { eventCount == 1 && pageviews == 1 }
    /// Milliseconds from the first event to the last.
    public var duration: Int64 { end - start }

    /// The visit's value of a property: the first event's for visit attributes, the first and
    /// last page view's path for entry and exit pages.
    public func value(of property: Property) -> String {
        switch property {
        case .entryPage: events.first(where: \.isPageview)?.path ?? ""
        case .exitPage: events.last(where: \.isPageview)?.path ?? ""
        default: events.first?.value(of: property) ?? ""
        }
    }
}
