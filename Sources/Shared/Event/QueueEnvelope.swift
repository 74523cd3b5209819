import Foundation

/// What the pipeline adds to an event on its way through the queue: the one definition of the
/// queued envelope, written by `Event.queuePayload(marks:)` and read by `QueueEnvelope.decode`.
/// Scripts in Redis never edit a payload; they are handed the bytes built here.
public struct QueueMarks: Sendable, Equatable {
    /// The events a throttle summary stands for (1 for an event).
    public var count = 1
    /// A throttle summary: stored as it is, never throttled again.
    public var throttled = false
    /// Already decided by the throttle (a recovered or retried batch): not counted again.
    public var checked = false
    /// Failed store attempts (an event back from the retry set).
    public var attempts = 0
    /// When its first store attempt failed, Unix ms.
    public var firstFailedAt: Int64?
    /// A summary's own id (`summary:<record>:<opened>`), stored as its event id.
    public var summaryID: String?

    /// No marks: an event as ingest queues it.
    public init(count: Int = 1, throttled: Bool = false, checked: Bool = false, attempts: Int = 0, firstFailedAt: Int64? = nil, summaryID: String? = nil) {
        self.count = count
        self.throttled = throttled
        self.checked = checked
        self.attempts = attempts
        self.firstFailedAt = firstFailedAt
        self.summaryID = summaryID
    }

    /// The members written after the event's, only those that differ from an unmarked event.
    var members: [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        if count != 1 { members.append(("count", .int(count))) }
        if throttled { members.append(("throttled", .bool(true))) }
        if checked && !throttled { members.append(("checked", .bool(true))) }
        if let summaryID { members.append(("summary_id", .string(summaryID))) }
        if attempts > 0 { members += [("attempts", .int(attempts)), ("first_failed_at", .int(Int(firstFailedAt ?? 0)))] }
        return members
    }
}

extension Event {
    /// The queue payload carrying `marks`.
    public func queuePayload(marks: QueueMarks) -> [UInt8] { queuePayload(adding: marks.members) }
}

/// Reads queued payloads (which ingest writes without repeated keys): one pass over the bytes with `JSONReader`, no `JSONDecoder` (it was
/// a third of the worker's CPU). Reads what `Event`'s `Codable` shape reads, and the marks;
/// unknown members are skipped, as `Codable` skips them.
public enum QueueEnvelope {
    /// The event and its marks; throws `JSONReadError` for anything that is not a queued event.
    public static func decode(_ payload: some Collection<UInt8>) throws(JSONReadError) -> (event: Event, marks: QueueMarks) {
        try JSONReader.read(payload) { reader throws(JSONReadError) in
            var fields = EnvelopeFields()
            try fields.read(&reader)
            return try fields.result()
        }
    }
}

/// The members of a queued payload as they are read.
private struct EnvelopeFields {
    var eventID: String?, siteID: String?, eventType: String?, path: String?, userID: String?, name: String?
    var timestamp: Int64?, receivedAt: Int64?
    var props: [String: PropValue]?
    var client: ClientContext?
    var visit: VisitFields?
    var marks = QueueMarks()

    mutating func read(_ reader: inout JSONReader) throws(JSONReadError) {
        guard try reader.beginObject() else { return }
        repeat {
            let key = try reader.readKey()
            // The event's members by the names `Event` is written under; the queue's marks after.
            switch Event.CodingKeys(rawValue: key) {
            case .eventID: eventID = try reader.string(orNull: key)
            case .siteID: siteID = try reader.string(orNull: key)
            case .eventType: eventType = try reader.string(orNull: key)
            case .path: path = try reader.string(orNull: key)
            case .userID: userID = try reader.string(orNull: key)
            case .name: name = try reader.string(orNull: key)
            case .timestamp: timestamp = try reader.int64(orNull: key)
            case .receivedAt: receivedAt = try reader.int64(orNull: key)
            case .props: props = try reader.nullable { reader throws(JSONReadError) in try Self.readProps(&reader) }
            case .client: client = try reader.nullable { reader throws(JSONReadError) in try Self.readClient(&reader) }
            case .visit: visit = try reader.nullable { reader throws(JSONReadError) in try Self.readVisit(&reader) }
            case nil: try readMark(key, &reader)
            }
        } while try reader.nextMember()
    }

    /// A queue mark (`count`, `throttled`, …), or a member nobody reads, skipped.
    private mutating func readMark(_ key: String, _ reader: inout JSONReader) throws(JSONReadError) {
        switch key {
        case "count": marks.count = try reader.int64(orNull: key).map { Int(clamping: $0) } ?? 1
        case "throttled": marks.throttled = try reader.bool(orNull: key) == true
        case "checked": marks.checked = try reader.bool(orNull: key) == true
        case "attempts": marks.attempts = try reader.int64(orNull: key).map { Int(clamping: $0) } ?? 0
        case "first_failed_at": marks.firstFailedAt = try reader.int64(orNull: key)
        case "summary_id": marks.summaryID = try reader.string(orNull: key)
        default: try reader.skipValue()
        }
    }

    func result() throws(JSONReadError) -> (event: Event, marks: QueueMarks) {
        guard let eventID, let siteID, let eventType, let timestamp, let receivedAt else {
            throw JSONReadError(message: "a queued event needs event_id, site_id, event_type, timestamp and received_at", offset: 0)
        }
        let event = Event(
            eventID: eventID, siteID: siteID, eventType: eventType, path: path, userID: userID, timestamp: timestamp,
            receivedAt: receivedAt, props: props, name: name, client: client, visit: visit)
        return (event, marks)
    }

    static func readProps(_ reader: inout JSONReader) throws(JSONReadError) -> [String: PropValue] {
        var props: [String: PropValue] = [:]
        guard try reader.beginObject() else { return props }
        repeat {
            let key = try reader.readKey()
            guard let value = try PropValue(reading: &reader) else { throw reader.mismatch("props.\(key)", "a string, number or boolean") }
            props[key] = value
        } while try reader.nextMember()
        return props
    }

    static func readClient(_ reader: inout JSONReader) throws(JSONReadError) -> ClientContext {
        var client = ClientContext()
        guard try reader.beginObject() else { return client }
        repeat {
            let key = try reader.readKey()
            switch key {
            case "ip": client.ip = try reader.string(orNull: key)
            case "ua": client.ua = try reader.string(orNull: key)
            case "url": client.url = try reader.string(orNull: key)
            case "ref": client.ref = try reader.string(orNull: key)
            default: try reader.skipValue()
            }
        } while try reader.nextMember()
        return client
    }

    /// `visit`, its member names from `VisitFields.CodingKeys` (the names it is written under).
    static func readVisit(_ reader: inout JSONReader) throws(JSONReadError) -> VisitFields {
        typealias Key = VisitFields.CodingKeys
        var ids: [Key: Int64] = [:]
        var strings: [Key: String] = [:]
        if try reader.beginObject() {
            repeat {
                let name = try reader.readKey()
                guard let key = Key(rawValue: name) else {
                    try reader.skipValue()
                    continue
                }
                switch key {
                case .visitorID, .sessionID: ids[key] = try reader.int64(orNull: name)
                default: strings[key] = try reader.string(orNull: name)
                }
            } while try reader.nextMember()
        }
        func required(_ key: Key) throws(JSONReadError) -> String {
            guard let value = strings[key] else { throw JSONReadError(message: "visit.\(key.rawValue) is missing", offset: 0) }
            return value
        }
        guard let visitor = ids[.visitorID], let session = ids[.sessionID] else {
            throw JSONReadError(message: "visit.visitor_id and visit.session_id are required", offset: 0)
        }
        return VisitFields(
            visitorID: visitor, sessionID: session, hostname: strings[.hostname], referrer: strings[.referrer],
            source: try required(.source), utmMedium: strings[.utmMedium], utmSource: strings[.utmSource],
            utmCampaign: strings[.utmCampaign], utmContent: strings[.utmContent], utmTerm: strings[.utmTerm],
            browser: try required(.browser), browserVersion: try required(.browserVersion), os: try required(.os),
            osVersion: try required(.osVersion), device: try required(.device), country: strings[.country])
    }
}

extension JSONReader {
    /// A value read by `read`, nil for `null`; any other kind is an error naming `key`.
    mutating func optional<T>(_ key: String, _ read: (inout JSONReader) throws(JSONReadError) -> T?) throws(JSONReadError) -> T? {
        if let value = try read(&self) { return value }
        if try readNull() { return nil }
        throw mismatch(key, "of its type or null")
    }

    /// A string, nil for `null`; any other kind is an error naming `key`.
    mutating func string(orNull key: String) throws(JSONReadError) -> String? {
        try optional(key) { reader throws(JSONReadError) in try reader.readString() }
    }

    /// An integer that fits `Int64`, nil for `null`; any other value is an error naming `key`.
    mutating func int64(orNull key: String) throws(JSONReadError) -> Int64? {
        try optional(key) { reader throws(JSONReadError) in try reader.readInt64() }
    }

    /// A boolean, nil for `null`; any other kind is an error naming `key`.
    mutating func bool(orNull key: String) throws(JSONReadError) -> Bool? {
        try optional(key) { reader throws(JSONReadError) in try reader.readBool() }
    }

    /// nil for `null`, else what `read` reads (an object reader: another kind is an error).
    mutating func nullable<T>(_ read: (inout JSONReader) throws(JSONReadError) -> T) throws(JSONReadError) -> T? {
        if try readNull() { return nil }
        return try read(&self)
    }

    /// "<key> must be <expected>" at the current value.
    func mismatch(_ key: String, _ expected: String) -> JSONReadError {
        JSONReadError(message: "\(EventValidator.printable(key)) must be \(expected)", offset: position)
    }
}
