import Foundation

/// Applies DESIGN.md's event rules to request bodies; the only way a client's JSON becomes an `Event`.
public struct EventValidator: Sendable {
    /// Largest `POST /event` body.
    public static let maxEventBytes = 16 * 1024
    /// Largest `POST /events` body.
    public static let maxBatchBytes = 1024 * 1024
    /// Most events in one batch.
    public static let maxBatchCount = 1000
    /// Longest client `event_id`, in UTF-8 bytes (not characters: 64 emoji are 256 bytes).
    public static let maxEventIDBytes = 64
    /// How far in the future a timestamp may lie (clock skew).
    public static let maxFutureSkewMillis: Int64 = 5 * 60 * 1000

    /// Creates a validator.
    public init() {}

    /// Validates one event body; `now` is the receive time in Unix milliseconds.
    public func validateEvent(_ body: some Collection<UInt8>, now: Int64) throws(ValidationError) -> Event {
        let input: EventInput
        do {
            input = try JSONReader.read(body) { reader throws(JSONReadError) in try EventInput(reading: &reader) }
        } catch {
            throw .invalidJSON(error.description)
        }
        return try validate(input, now: now)
    }

    /// Validates a batch body: the array itself must be well-formed; each element succeeds or fails alone.
    public func validateBatch(_ body: some Collection<UInt8>, now: Int64) throws(ValidationError) -> [Result<Event, ValidationError>] {
        let batch: (elements: [EventInput], count: Int)?
        do {
            batch = try JSONReader.read(body) { reader throws(JSONReadError) -> ([EventInput], Int)? in
                guard try reader.peek() == .array else {
                    try reader.skipValue()
                    return nil
                }
                var elements: [EventInput] = []
                // About one element per 64 bytes at most: growing the array a dozen times copied each input again.
                elements.reserveCapacity(min(Self.maxBatchCount, body.count / 64 + 1))
                var count = 0
                if try reader.beginArray() {
                    repeat {
                        // Past the limit the rest is only checked to be JSON and counted for the answer.
                        if count < Self.maxBatchCount {
                            elements.append(try EventInput(reading: &reader))
                        } else {
                            try reader.skipValue()
                        }
                        count += 1
                    } while try reader.nextElement()
                }
                return (elements, count)
            }
        } catch {
            throw .invalidJSON(error.description)
        }
        guard let batch else { throw ValidationError(message: "a batch must be a JSON array of events") }
        guard batch.count > 0 else { throw ValidationError(message: "a batch must hold at least one event") }
        guard batch.count <= Self.maxBatchCount else {
            throw ValidationError(code: "PAYLOAD_TOO_LARGE", message: "a batch holds at most \(Self.maxBatchCount) events; got \(batch.count)")
        }
        // One seed from the system per batch, not two getrandom calls per event id (they were 9%
        // of a 1,000-event batch's CPU).
        var ids = EventIDGenerator()
        return batch.elements.map { input in
            Result { () throws(ValidationError) -> Event in try validate(input, now: now, ids: &ids) }
        }
    }

    /// Applies the client rules again to an event read back from the queue or the dead letters
    /// (`Worker dead replay`): what would be refused at ingest today is refused here too.
    public func revalidate(_ event: Event) throws(ValidationError) -> Event {
        var members: [(String, JSONValue)] = [
            ("event_id", .string(event.eventID)), ("site_id", .string(event.siteID)), ("event_type", .string(event.eventType)),
            ("timestamp", .string(Timestamp.formatISO8601(event.timestamp))),
        ]
        if let path = event.path { members.append(("path", .string(path))) }
        if let user = event.userID { members.append(("userid", .string(user))) }
        if let props = event.props { members.append(("props", .object(props.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) }))) }
        var checked = try validateEvent(JSONValue.object(members).bytes, now: max(event.receivedAt, event.timestamp))
        checked.receivedAt = event.receivedAt
        checked.name = event.name
        checked.client = event.client
        checked.visit = event.visit
        return checked
    }

    /// Applies every rule to decoded input.
    func validate(_ input: EventInput, now: Int64) throws(ValidationError) -> Event {
        var ids = SystemRandomNumberGenerator()
        return try validate(input, now: now, ids: &ids)
    }

    /// Applies every rule to decoded input; an event sent without an id gets one from `ids`.
    func validate(_ input: EventInput, now: Int64, ids: inout some RandomNumberGenerator) throws(ValidationError) -> Event {
        if let problem = input.problem { throw problem }
        let siteID = try required(input.siteID, "site_id")
        try check(siteID, "site_id", maxLength: 64, allowed: Self.siteIDCharacters, description: "A-Z a-z 0-9 . _ -")
        let eventType = try required(input.eventType, "event_type")
        try check(eventType, "event_type", maxLength: 64, allowed: Self.eventTypeCharacters, description: "A-Z a-z 0-9 . _ : -")

        if let path = input.path {
            guard path.utf8.first == UInt8(ascii: "/") else { throw .field("path", "must start with /") }
            guard path.utf8.count <= 2048 else { throw .field("path", "must be at most 2048 bytes") }
            guard !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw .field("path", "must not contain control characters") }
        } else if eventType == "page_view" {
            throw .field("path", "is required for page_view")
        }

        var userID = input.userID
        if let user = userID {
            guard user.utf8.count <= 128 else { throw .field("userid", "must be at most 128 bytes") }
            if user.isEmpty { userID = nil }
        }

        var timestamp = now
        if let text = input.timestamp {
            guard let parsed = Timestamp.parseISO8601(text) else {
                throw .field("timestamp", "must be ISO-8601 with a zone, e.g. 2025-11-23T16:44:31.123Z")
            }
            guard parsed <= now + Self.maxFutureSkewMillis else {
                throw .field("timestamp", "must not be more than 5 minutes in the future")
            }
            timestamp = parsed
        }

        let eventID: String
        if let given = input.eventID {
            guard (1...Self.maxEventIDBytes).contains(given.utf8.count) else {
                throw .field("event_id", "must be 1-\(Self.maxEventIDBytes) bytes of UTF-8")
            }
            guard given.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw .field("event_id", "must not contain control characters")
            }
            eventID = given
        } else {
            eventID = Self.randomEventID(using: &ids)
        }

        return Event(
            eventID: eventID, siteID: siteID, eventType: eventType, path: input.path, userID: userID,
            timestamp: timestamp, receivedAt: now, props: try validProps(input)
        )
    }

    private func validProps(_ input: EventInput) throws(ValidationError) -> [String: PropValue]? {
        guard let props = input.props else { return nil }
        guard props.count <= Self.maxPropsKeys else { throw .field("props", "must have at most \(Self.maxPropsKeys) keys") }
        guard input.propsJSONBytes <= Self.maxPropsBytes else { throw .field("props", "must be at most 4 KiB as JSON") }
        var result: [String: PropValue] = [:]
        for (key, value) in props {
            let shown = Self.printable(key)
            guard !key.isEmpty, key.utf8.count <= 128 else { throw .field("props", "keys must be 1-128 bytes") }
            guard !key.hasPrefix("$") else { throw .field("props.\(shown)", "key must not start with $") }
            guard !key.contains("."), !key.utf8.contains(0) else { throw .field("props.\(shown)", "key must not contain . or NUL") }
            if case .double(let d) = value, !d.isFinite { throw .field("props.\(shown)", "must be a finite number") }
            result[key] = value
        }
        return result
    }

    private func required(_ value: String?, _ field: String) throws(ValidationError) -> String {
        guard let value else { throw .field(field, "is required") }
        return value
    }

    private func check(_ value: String, _ field: String, maxLength: Int, allowed: ByteMask, description: String) throws(ValidationError) {
        guard (1...maxLength).contains(value.utf8.count) else { throw .field(field, "must be 1-\(maxLength) bytes") }
        guard value.utf8.allSatisfy(allowed.contains) else { throw .field(field, "may only contain \(description)") }
    }

    private static let siteIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
    /// The bytes a site id may hold.
    static let siteIDCharacters = ByteMask(siteIDAlphabet.utf8)
    /// The bytes an event type may hold: a site id's and `:`.
    static let eventTypeCharacters = ByteMask((siteIDAlphabet + ":").utf8)

    /// A random (version 4) UUID in lowercase, for events sent without an `event_id`. Written
    /// by hand: `UUID().uuidString.lowercased()` cost 3.7 µs, a third of validating an event.
    static func randomEventID() -> String {
        var generator = SystemRandomNumberGenerator()
        return randomEventID(using: &generator)
    }

    /// A random (version 4) UUID in lowercase from `generator`.
    static func randomEventID(using generator: inout some RandomNumberGenerator) -> String {
        let high = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF_0FFF | 0x4000  // version 4
        let low = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = nibble < 16 ? high : low
                buffer[index] = hexDigits[Int((word >> UInt64(60 - 4 * (nibble % 16))) & 0xF)]
                index += 1
            }
            return index
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// A name cut to 64 bytes of UTF-8 (never inside a character's encoding), for echoing client
    /// input in messages and logs: cut by characters, one letter with thousands of combining
    /// marks made an answer of kilobytes.
    public static func printable(_ name: String) -> String {
        name.utf8.count > 64 ? ClientContext.cut(name, toBytes: 64) + "…" : name
    }

    /// Most keys an event's props may hold.
    public static let maxPropsKeys = 32
    /// Largest props object, written as JSON, in bytes.
    public static let maxPropsBytes = 4096
}

/// A set of bytes as a 256-bit mask: `contains` is a shift and a test, where `Set<UInt8>` hashes.
struct ByteMask: Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            default: words.3 |= bit
            }
        }
    }

    /// Whether `byte` is in the set.
    func contains(_ byte: UInt8) -> Bool {
        let word: UInt64
        switch byte >> 6 {
        case 0: word = words.0
        case 1: word = words.1
        case 2: word = words.2
        default: word = words.3
        }
        return word >> UInt64(byte & 63) & 1 == 1
    }
}

/// Event ids for a batch: xoshiro256** seeded once from the system's generator. The ids are
/// idempotency keys, not secrets: they need to be unique, which 122 random bits from a
/// well-seeded generator give, not unpredictable. Never share one between requests: its ids
/// reveal its state, which is harmless only to the client that sent the batch (it may name
/// its own ids anyway); single events take theirs from the system's generator.
struct EventIDGenerator: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init() {
        var system = SystemRandomNumberGenerator()
        state = (system.next(), system.next(), system.next(), system.next())
        if state == (0, 0, 0, 0) { state.0 = 1 }  // the one state xoshiro never leaves
    }

    mutating func next() -> UInt64 {
        let result = (state.1 &* 5).rotateLeft(7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3.rotateLeft(45)
        return result
    }
}

extension UInt64 {
    fileprivate func rotateLeft(_ count: UInt64) -> UInt64 { self << count | self >> (64 - count) }
}
