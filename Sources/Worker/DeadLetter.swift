import Foundation
import Shared

/// A payload that cannot be stored, kept in `et:dead` with why, by whom and when.
struct DeadLetter: Codable, Equatable {
    /// The queued payload as text (invalid UTF-8 replaced).
    var raw: String
    /// The event id, when the payload has one (`Worker dead replay --id`).
    var eventID: String?
    /// What went wrong, for people.
    var reason: String
    /// A stable code: `UNDECODABLE` or the store's error code.
    var code: String
    /// Attempts made before giving up.
    var attempts: Int
    /// The worker that filed it.
    var worker: String
    /// When it first failed, ISO-8601.
    var firstFailedAt: String
    /// When it last failed (and was filed), ISO-8601.
    var failedAt: String

    enum CodingKeys: String, CodingKey {
        case raw, eventID = "event_id", reason, code, attempts, worker, firstFailedAt = "first_failed_at", failedAt = "failed_at"
    }

    /// A dead letter for `payload` filed now by `worker`; `firstFailedAt` defaults to now.
    init(payload: [UInt8], eventID: String? = nil, reason: String, code: String, attempts: Int = 1, worker: String, firstFailedAt: Int64? = nil) {
        let now = Timestamp.nowMillis()
        self.raw = String(decoding: payload, as: UTF8.self)
        self.eventID = eventID
        self.reason = reason
        self.code = code
        self.attempts = attempts
        self.worker = worker
        self.firstFailedAt = Timestamp.formatISO8601(firstFailedAt ?? now)
        self.failedAt = Timestamp.formatISO8601(now)
    }

    /// The JSON kept in Redis.
    var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data())
    }
}
