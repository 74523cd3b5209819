/// A validated event: what the queue carries and what a stored document is built from.
public struct Event: Sendable, Equatable, Codable {
    /// The idempotency key, stored as `event_id`; with the site it makes the document `_id`.
    public var eventID: String
    /// The site the event belongs to.
    public var siteID: String
    /// What happened (`page_view`, `click`, …).
    public var eventType: String
    /// The page path, required for `page_view`.
    public var path: String?
    /// The user, if known; never empty.
    public var userID: String?
    /// When it happened, milliseconds since the Unix epoch (UTC).
    public var timestamp: Int64
    /// When IngestAPI received it, milliseconds since the Unix epoch.
    public var receivedAt: Int64
    /// Flat custom properties.
    public var props: [String: PropValue]?

    /// Creates an event from already validated fields.
    public init(
        eventID: String, siteID: String, eventType: String, path: String? = nil, userID: String? = nil,
        timestamp: Int64, receivedAt: Int64, props: [String: PropValue]? = nil
    ) {
        self.eventID = eventID
        self.siteID = siteID
        self.eventType = eventType
        self.path = path
        self.userID = userID
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.props = props
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case siteID = "site_id"
        case eventType = "event_type"
        case path
        case userID = "userid"
        case timestamp
        case receivedAt = "received_at"
        case props
    }
}

/// A property value: a string, an integer, a floating-point number or a boolean.
public enum PropValue: Sendable, Equatable, Codable {
    /// A string value.
    case string(String)
    /// An integral number.
    case int(Int64)
    /// A non-integral number.
    case double(Double)
    /// A boolean.
    case bool(Bool)

    /// Decodes the first of bool, integer, double, string that fits; anything else is a type error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.typeMismatch(
                PropValue.self,
                .init(codingPath: decoder.codingPath, debugDescription: "must be a string, number or boolean")
            )
        }
    }

    /// Encodes the bare value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }
}

extension PropValue {
    /// The value as JSON.
    public var json: JSONValue {
        switch self {
        case .string(let v): .string(v)
        case .int(let v): .int(Int(v))
        case .double(let v): .double(v)
        case .bool(let v): .bool(v)
        }
    }
}
