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
            switch key {
            case "event_id": eventID = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "site_id": siteID = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "event_type": eventType = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "path": path = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "userid": userID = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "name": name = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            case "timestamp": timestamp = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }
            case "received_at": receivedAt = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }
            case "props": props = try reader.nullable { reader throws(JSONReadError) in try Self.readProps(&reader) }
            case "client": client = try reader.nullable { reader throws(JSONReadError) in try Self.readClient(&reader) }
            case "visit": visit = try reader.nullable { reader throws(JSONReadError) in try Self.readVisit(&reader) }
            case "count": marks.count = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }.map { Int(clamping: $0) } ?? 1
            case "throttled": marks.throttled = try reader.optional(key) { reader throws(JSONReadError) in try reader.readBool() } == true
            case "checked": marks.checked = try reader.optional(key) { reader throws(JSONReadError) in try reader.readBool() } == true
            case "attempts": marks.attempts = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }.map { Int(clamping: $0) } ?? 0
            case "first_failed_at": marks.firstFailedAt = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }
            case "summary_id": marks.summaryID = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            default: try reader.skipValue()
            }
        } while try reader.nextMember()
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
            guard ["ip", "ua", "url", "ref"].contains(key) else {
                try reader.skipValue()
                continue
            }
            let value = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
            switch key {
            case "ip": client.ip = value
            case "ua": client.ua = value
            case "url": client.url = value
            default: client.ref = value
            }
        } while try reader.nextMember()
        return client
    }

    static func readVisit(_ reader: inout JSONReader) throws(JSONReadError) -> VisitFields {
        var ints: [String: Int64] = [:]
        var strings: [String: String] = [:]
        if try reader.beginObject() {
            repeat {
                let key = try reader.readKey()
                switch key {
                case "visitor_id", "session_id":
                    ints[key] = try reader.optional(key) { reader throws(JSONReadError) in try reader.readInt64() }
                case "hostname", "referrer", "source", "utm_medium", "utm_source", "utm_campaign", "utm_content", "utm_term",
                     "browser", "browser_version", "os", "os_version", "device", "country":
                    strings[key] = try reader.optional(key) { reader throws(JSONReadError) in try reader.readString() }
                default: try reader.skipValue()
                }
            } while try reader.nextMember()
        }
        func required(_ key: String) throws(JSONReadError) -> String {
            guard let value = strings[key] else { throw JSONReadError(message: "visit.\(key) is missing", offset: 0) }
            return value
        }
        guard let visitor = ints["visitor_id"], let session = ints["session_id"] else {
            throw JSONReadError(message: "visit.visitor_id and visit.session_id are required", offset: 0)
        }
        return VisitFields(
            visitorID: visitor, sessionID: session, hostname: strings["hostname"], referrer: strings["referrer"],
            source: try required("source"), utmMedium: strings["utm_medium"], utmSource: strings["utm_source"],
            utmCampaign: strings["utm_campaign"], utmContent: strings["utm_content"], utmTerm: strings["utm_term"],
            browser: try required("browser"), browserVersion: try required("browser_version"), os: try required("os"),
            osVersion: try required("os_version"), device: try required("device"), country: strings["country"])
    }
}

extension JSONReader {
    /// A value read by `read`, nil for `null`; any other kind is an error naming `key`.
    mutating func optional<T>(_ key: String, _ read: (inout JSONReader) throws(JSONReadError) -> T?) throws(JSONReadError) -> T? {
        if let value = try read(&self) { return value }
        if try readNull() { return nil }
        throw mismatch(key, "of its type or null")
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
