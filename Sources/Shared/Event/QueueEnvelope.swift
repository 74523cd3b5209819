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

/// Reads queued payloads.
public enum QueueEnvelope {
    private struct Queued: Decodable {
        var event: Event
        var marks: Marks
        init(from decoder: any Decoder) throws {
            event = try Event(from: decoder)
            marks = try Marks(from: decoder)
        }
    }

    private struct Marks: Decodable {
        var count: Int?
        var throttled: Bool?
        var checked: Bool?
        var attempts: Int?
        var firstFailedAt: Int64?
        var summaryID: String?
        enum CodingKeys: String, CodingKey {
            case count, throttled, checked, attempts, firstFailedAt = "first_failed_at", summaryID = "summary_id"
        }
    }

    /// The event and its marks from one parse; throws `DecodingError` for anything else.
    public static func decode(_ payload: [UInt8], using decoder: JSONDecoder = JSONDecoder()) throws -> (event: Event, marks: QueueMarks) {
        let queued = try decoder.decode(Queued.self, from: Data(payload))
        let marks = queued.marks
        return (queued.event, QueueMarks(
            count: marks.count ?? 1, throttled: marks.throttled == true, checked: marks.checked == true,
            attempts: marks.attempts ?? 0, firstFailedAt: marks.firstFailedAt, summaryID: marks.summaryID))
    }
}
