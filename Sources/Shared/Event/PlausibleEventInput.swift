import Foundation

/// A Plausible Events API body (`POST /api/event`) as sent, before the rules: the long names
/// (`name`, `url`, `domain`, `referrer`, `props`) or the tracker's short ones (`n`, `u`, `d`, `r`,
/// `p`, `m`, `h`), plus our `event_id`. Like `EventInput`, decoding never throws for a bad field.
struct PlausibleEventInput: Decodable, FieldByFieldInput {
    var name: String?
    var url: String?
    var domain: String?
    var referrer: String?
    var hashMode = false
    var eventID: String?
    var props: [(key: String, value: PropValue)]?
    var propsJSONBytes = 0
    /// The first problem found while decoding.
    var problem: ValidationError?

    /// Fields Plausible's clients send that we accept and do not keep (screen width,
    /// interactivity, revenue, version, engagement measures).
    static let ignored: Set<String> = ["screen_width", "w", "interactive", "i", "revenue", "$", "v", "sd", "e"]

    init(from decoder: any Decoder) throws {
        guard let container = object(decoder) else { return }
        for key in container.allKeys {
            switch key.stringValue {
            case "n", "name": name = optionalString(container, key)
            case "u", "url": url = optionalString(container, key)
            case "d", "domain": domain = optionalString(container, key)
            case "r", "referrer": referrer = optionalString(container, key)
            case "event_id": eventID = optionalString(container, key)
            case "h", "hashMode", "hash_mode":
                if let flag = try? container.decode(Bool.self, forKey: key) {
                    hashMode = flag
                } else if let number = try? container.decode(Int.self, forKey: key) {
                    hashMode = number != 0
                } else if (try? container.decodeNil(forKey: key)) != true {
                    note(.field(key.stringValue, "must be 0, 1 or a boolean"))
                }
            case "p", "props", "m", "meta": decodeProps(container, key)
            case let name where Self.ignored.contains(name): continue
            default:
                note(.field(EventValidator.printable(key.stringValue), "is not a known field of the Plausible Events API"))
            }
        }
    }

    /// Props as an object, or (Plausible's older script, key `m`) as a string holding one.
    /// Values that are not a string, number or boolean are left out, as Plausible does.
    private mutating func decodeProps(_ container: KeyedDecodingContainer<JSONKey>, _ key: JSONKey) {
        if (try? container.decodeNil(forKey: key)) == true { return }
        if let text = try? container.decode(String.self, forKey: key) {
            guard text.utf8.count <= 4096, let loose = try? JSONDecoder().decode(LooseProps.self, from: Data(text.utf8)) else {
                note(.field(key.stringValue, "must be an object, or a string holding a JSON object of at most 4 KiB"))
                return
            }
            add(loose.members)
            return
        }
        guard let loose = try? container.decode(LooseProps.self, forKey: key) else {
            note(.field(key.stringValue, "must be an object"))
            return
        }
        add(loose.members)
    }

    /// A props object whose values that are not a string, number or boolean are left out.
    private struct LooseProps: Decodable {
        var members: [(String, PropValue)] = []
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: JSONKey.self)
            members = container.allKeys.compactMap { key in (try? container.decode(PropValue.self, forKey: key)).map { (key.stringValue, $0) } }
        }
    }

    private mutating func add(_ members: [(String, PropValue)]) {
        var result = props ?? []
        var bytes = propsJSONBytes == 0 ? 2 : propsJSONBytes
        for (key, value) in members {
            result.append((key, value))
            bytes += key.utf8.count + 4 + value.approximateJSONBytes
        }
        props = result
        propsJSONBytes = bytes
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
            input = try JSONDecoder().decode(PlausibleEventInput.self, from: Data(body))
        } catch {
            throw .invalidJSON(Self.describe(error))
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
            if let first = events.first { event.eventID = first.eventID }  // one id: the sites' documents differ by `_id`
            event.name = name
            event.client = ClientContext(url: url, ref: referrer)
            events.append(event)
        }
        return PlausibleEvent(events: events, isEngagement: false, sites: events.count)
    }

    /// A Plausible domain as a site id: trimmed, lowercased, without a leading `www.`.
    static func siteID(fromDomain domain: Substring) -> String {
        var site = domain.trimmingCharacters(in: .whitespaces).lowercased()
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
