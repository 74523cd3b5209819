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
    /// The event's name as the client gave it (Plausible's `name`: `pageview`, `Outbound Link: Click`).
    public var name: String?
    /// What ingest captured from the request for the worker to enrich; never stored.
    public var client: ClientContext?
    /// What the worker derived from `client`: set once, stored with the event.
    public var visit: VisitFields?

    /// Creates an event from already validated fields.
    public init(
        eventID: String, siteID: String, eventType: String, path: String? = nil, userID: String? = nil,
        timestamp: Int64, receivedAt: Int64, props: [String: PropValue]? = nil, name: String? = nil,
        client: ClientContext? = nil, visit: VisitFields? = nil
    ) {
        self.eventID = eventID
        self.siteID = siteID
        self.eventType = eventType
        self.path = path
        self.userID = userID
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.props = props
        self.name = name
        self.client = client
        self.visit = visit
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
        case name
        case client
        case visit
    }
}

/// What ingest captures from a request for the worker's enrichment: the hash inputs, the
/// address for the country, the raw user agent and URLs. It rides the queue only; the worker
/// replaces it with `VisitFields` before anything is stored.
public struct ClientContext: Sendable, Equatable, Codable {
    /// The client's address in canonical text form (never stored).
    public var ip: String?
    /// The `User-Agent`, cut to `maxUserAgentBytes`.
    public var ua: String?
    /// The page URL (Plausible's `url`, or for `/event` the request's `Referer`/`Origin`).
    public var url: String?
    /// The document referrer as the client sent it.
    public var ref: String?

    /// Longest user agent kept, in UTF-8 bytes; classification reads no further.
    public static let maxUserAgentBytes = 512

    /// Creates a context; `ua` is cut at a character boundary to `maxUserAgentBytes`.
    public init(ip: String? = nil, ua: String? = nil, url: String? = nil, ref: String? = nil) {
        self.ip = ip
        self.ua = ua.map { Self.cut($0, toBytes: Self.maxUserAgentBytes) }
        self.url = url
        self.ref = ref
    }

    /// `text` cut to at most `limit` UTF-8 bytes without splitting a character: the cut steps
    /// back over continuation bytes (at most three), never scanning the string.
    static func cut(_ text: String, toBytes limit: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        var steps = 0
        while end > utf8.startIndex, steps < 4, utf8[end] & 0xC0 == 0x80 {
            end = utf8.index(before: end)
            steps += 1
        }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }
}

/// What a stored event carries about its visit (DESIGN.md, "What a stored event carries").
public struct VisitFields: Sendable, Equatable, Codable {
    /// Cookieless visitor: a keyed hash of (daily salt, site, address, user agent), or of the `userid`.
    public var visitorID: Int64
    /// The visit: 30 minutes without an event from the visitor ends it.
    public var sessionID: Int64
    /// The page's host.
    public var hostname: String?
    /// The visit's referrer: host and path, no scheme, no `www.`.
    public var referrer: String?
    /// The visit's source (`Direct / None` when nothing names one).
    public var source: String
    /// The visit's UTM parameters.
    public var utmMedium: String?, utmSource: String?, utmCampaign: String?, utmContent: String?, utmTerm: String?
    /// From the user agent; empty when unknown.
    public var browser: String, browserVersion: String, os: String, osVersion: String
    /// `Desktop`, `Mobile` or `Tablet`.
    public var device: String
    /// ISO 3166-1 alpha-2, when the address is in the database.
    public var country: String?

    /// The fields from their parts.
    public init(
        visitorID: Int64, sessionID: Int64, hostname: String?, referrer: String?, source: String, utmMedium: String?, utmSource: String?,
        utmCampaign: String?, utmContent: String?, utmTerm: String?, browser: String, browserVersion: String, os: String, osVersion: String,
        device: String, country: String?
    ) {
        self.visitorID = visitorID
        self.sessionID = sessionID
        self.hostname = hostname
        self.referrer = referrer
        self.source = source
        self.utmMedium = utmMedium
        self.utmSource = utmSource
        self.utmCampaign = utmCampaign
        self.utmContent = utmContent
        self.utmTerm = utmTerm
        self.browser = browser
        self.browserVersion = browserVersion
        self.os = os
        self.osVersion = osVersion
        self.device = device
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case visitorID = "visitor_id", sessionID = "session_id", hostname, referrer, source
        case utmMedium = "utm_medium", utmSource = "utm_source", utmCampaign = "utm_campaign", utmContent = "utm_content", utmTerm = "utm_term"
        case browser, browserVersion = "browser_version", os, osVersion = "os_version", device, country
    }

    /// The fields in stored order, the optional ones only when present.
    public var members: [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [("visitor_id", .int(Int(visitorID))), ("session_id", .int(Int(sessionID)))]
        if let hostname { members.append(("hostname", .string(hostname))) }
        if let referrer { members.append(("referrer", .string(referrer))) }
        members.append(("source", .string(source)))
        for (key, value) in [("utm_medium", utmMedium), ("utm_source", utmSource), ("utm_campaign", utmCampaign), ("utm_content", utmContent), ("utm_term", utmTerm)] {
            if let value { members.append((key, .string(value))) }
        }
        members += [
            ("browser", .string(browser)), ("browser_version", .string(browserVersion)),
            ("os", .string(os)), ("os_version", .string(osVersion)), ("device", .string(device)),
        ]
        if let country { members.append(("country", .string(country))) }
        return members
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
