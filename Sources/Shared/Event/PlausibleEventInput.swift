import Foundation

/// A Plausible Events API body (`POST /api/event`) as sent, before the rules: the long names
/// (`name`, `url`, `domain`, `referrer`, `props`) or the tracker's short ones (`n`, `u`, `d`, `r`,
/// `p`, `m`, `h`), plus our `event_id`. Like `EventInput`, reading never throws for a bad field.
struct PlausibleEventInput: FieldByFieldInput {
    var name: String?
    var url: String?
    var domain: String?
    var referrer: String?
    var hashMode = false
    var eventID: String?
    var props: [(key: String, value: PropValue)]?
    var propsJSONBytes = 0
    /// The first problem found while reading.
    var problem: ValidationError?

    /// Fields Plausible's clients send that we accept and do not keep (screen width,
    /// interactivity, revenue, version, engagement measures).
    static let ignored: Set<String> = ["screen_width", "w", "interactive", "i", "revenue", "$", "v", "sd", "e"]

    /// Reads the body's object in one pass; a value of the wrong type is noted, read past, and
    /// reading goes on. Throws only when the bytes are not JSON. A field named twice (under
    /// either of its names; `p`, `props`, `m` and `meta` are one field) keeps its first value,
    /// as `EventInput` does.
    init(reading reader: inout JSONReader) throws(JSONReadError) {
        guard try beginEvent(&reader) else { return }
        var seen = SeenFields()
        repeat {
            let key = try reader.readKey()
            switch key {
            case "n", "name": if try seen.first(1 << 0, &reader) { name = try optionalString(&reader, key) }
            case "u", "url": if try seen.first(1 << 1, &reader) { url = try optionalString(&reader, key) }
            case "d", "domain": if try seen.first(1 << 2, &reader) { domain = try optionalString(&reader, key) }
            case "r", "referrer": if try seen.first(1 << 3, &reader) { referrer = try optionalString(&reader, key) }
            case "event_id": if try seen.first(1 << 4, &reader) { eventID = try optionalString(&reader, key) }
            case "h", "hashMode", "hash_mode": if try seen.first(1 << 5, &reader) { try readHashMode(&reader, key) }
            case "p", "props", "m", "meta": if try seen.first(1 << 6, &reader) { try readProps(&reader, key) }
            case let other where Self.ignored.contains(other): try reader.skipValue()
            default:
                note(.field(EventValidator.printable(key), "is not a known field of the Plausible Events API"))
                try reader.skipValue()
            }
        } while try reader.nextMember()
    }

    /// `h`: a boolean, or a number (0 is off); null leaves it off.
    private mutating func readHashMode(_ reader: inout JSONReader, _ key: String) throws(JSONReadError) {
        switch try reader.peek() {
        case .bool: hashMode = try reader.readBool() ?? false
        case .null: _ = try reader.readNull()
        case .number:
            switch try reader.readNumber() {
            case .int(let value): hashMode = value != 0
            // `readNumber` gives every whole number below 2^53 as `.int`: a `.double` here is
            // past it, and on only when it still fits in 64 bits, as `Int` decoding had it.
            case .double(let value) where Int64(exactly: value) != nil: hashMode = value != 0
            case .double, .outOfRange, nil: note(.field(key, "must be 0, 1 or a boolean"))
            }
        case .string, .object, .array:
            note(.field(key, "must be 0, 1 or a boolean"))
            try reader.skipValue()
        }
    }

    /// Props as an object, or (Plausible's older script, key `m`) as a string holding one.
    /// Values that are not a string, number or boolean are left out, as Plausible does.
    private mutating func readProps(_ reader: inout JSONReader, _ key: String) throws(JSONReadError) {
        let reason = "must be an object, or a string holding a JSON object of at most 4 KiB"
        let problem = ValidationError.field(key, reason)
        switch try reader.peek() {
        case .null: _ = try reader.readNull()
        case .object: try keepProps(&reader)
        case .string:
            let text = try reader.readString() ?? ""
            guard text.utf8.count <= EventValidator.maxPropsBytes else { return note(problem) }
            do {
                let isObject = try JSONReader.read(text.utf8) { inner throws(JSONReadError) -> Bool in
                    guard try inner.peek() == .object else {
                        try inner.skipValue()
                        return false
                    }
                    try keepProps(&inner)
                    return true
                }
                if !isObject { note(problem) }
            } catch {
                note(.field(key, "\(reason): \(error)"))
            }
        case .number, .bool, .array:
            note(problem)
            try reader.skipValue()
        }
    }

    /// Keeps the scalar members of the props object at the reader.
    private mutating func keepProps(_ reader: inout JSONReader) throws(JSONReadError) {
        let read = try PropsObject.read(&reader) { _ in }
        props = read.members
        propsJSONBytes = read.jsonBytes
    }
}

extension EventValidator {
    /// Largest Plausible event name, in UTF-8 bytes (Plausible's limit is 120 characters).
    public static let maxNameBytes = 120
    /// Most sites one Plausible event may name (`domain: "a.com,b.com"`).
    public static let maxDomains = 10
    /// Longest page URL or referrer, in UTF-8 bytes.
    public static let maxURLBytes = 2000

    /// What a `POST /api/event` body holds: one event per named site (usually one), each
    /// carrying the page URL and referrer for the worker. `pageview` becomes a `page_view`;
    /// an `engagement` event (Plausible's newer script) is reported, to be dropped.
    public func validatePlausible(_ body: some Collection<UInt8>, now: Int64) throws(ValidationError) -> PlausibleEvent {
        let input: PlausibleEventInput
        do {
            input = try JSONReader.read(body) { reader throws(JSONReadError) in try PlausibleEventInput(reading: &reader) }
        } catch {
            throw .invalidJSON(error.description)
        }
        if let problem = input.problem { throw problem }
        guard let name = input.name, !name.isEmpty else { throw .field("name", "is required") }
        guard name.utf8.count <= Self.maxNameBytes else { throw .field("name", "must be at most \(Self.maxNameBytes) bytes") }
        guard name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }) else {
            throw .field("name", "must not contain control characters")
        }
        guard let url = input.url, !url.isEmpty else { throw .field("url", "is required") }
        guard url.utf8.count <= Self.maxURLBytes else { throw .field("url", "must be at most \(Self.maxURLBytes) bytes") }
        guard let page = PageURL.parse(url, hashMode: input.hashMode) else {
            throw .field("url", "must be an absolute URL such as https://example.com/page")
        }
        if let referrer = input.referrer, referrer.utf8.count > Self.maxURLBytes {
            throw .field("referrer", "must be at most \(Self.maxURLBytes) bytes")
        }
        guard let domains = input.domain, !domains.isEmpty else { throw .field("domain", "is required") }
        let sites = domains.split(separator: ",", omittingEmptySubsequences: true).map { Self.siteID(fromDomain: $0) }
        guard !sites.isEmpty else { throw .field("domain", "is required") }
        guard sites.count <= Self.maxDomains else { throw .field("domain", "may name at most \(Self.maxDomains) sites") }
        if name == "engagement" { return PlausibleEvent(events: [], isEngagement: true, sites: Set(sites).count) }

        var fields = EventInput()
        fields.eventType = name == "pageview" ? "page_view" : Self.eventType(forName: name)
        fields.path = page.path
        fields.eventID = input.eventID
        fields.props = input.props
        fields.propsJSONBytes = input.propsJSONBytes
        let referrer = input.referrer.flatMap { $0.isEmpty ? nil : $0 }
        var events: [Event] = []
        var seen: Set<String> = []
        for site in sites where seen.insert(site).inserted {
            fields.siteID = site
            var event: Event
            do {
                event = try validate(fields, now: now)
            } catch let error where error.field == "site_id" {
                throw .field("domain", error.message.replacingOccurrences(of: "site_id", with: "domain"))
            }
            fields.eventID = event.eventID  // one id for every site (drawn once): their documents differ by `_id`
            event.name = name
            event.client = ClientContext(url: url, ref: referrer)
            events.append(event)
        }
        return PlausibleEvent(events: events, isEngagement: false, sites: events.count)
    }

    /// A Plausible domain as a site id: trimmed, lowercased, without a leading `www.`.
    static func siteID(fromDomain domain: Substring) -> String {
        // Trimmed of what Foundation's `.whitespaces` holds (tab, the space separators and
        // U+200B ZERO WIDTH SPACE), without bridging to `NSString`, which cost more than the
        // rest of the request's rules.
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "\t" || scalar == "\u{200B}" || scalar.properties.generalCategory == .spaceSeparator
        }
        let scalars = domain.unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, isSpace(scalars[start]) { start = scalars.index(after: start) }
        while start < end, isSpace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        var site = String(scalars[start..<end]).lowercased()
        if site.hasPrefix("www.") { site.removeFirst(4) }
        return site
    }

    /// An event type for a custom event name: the characters an event type may not hold
    /// become `_`, cut to 64 bytes (`Outbound Link: Click` → `Outbound_Link:_Click`).
    static func eventType(forName name: String) -> String {
        var bytes = name.utf8.map { eventTypeCharacters.contains($0) ? $0 : UInt8(ascii: "_") }
        if bytes.count > 64 { bytes.removeLast(bytes.count - 64) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The events of one `POST /api/event`.
public struct PlausibleEvent: Sendable {
    /// One per site named in `domain`, sharing one event id.
    public var events: [Event]
    /// Plausible's `engagement` event: accepted and dropped.
    public var isEngagement: Bool
    /// How many sites it named (an engagement event's drop counts them).
    public var sites: Int
}
