import Foundation
import Shared

/// A payload that cannot be stored, kept in `et:dead` with why, by whom and when.
struct DeadLetter: Codable, Equatable {
    /// The queued payload as text (invalid UTF-8 replaced).
    var raw: String
    /// What went wrong, for people.
    var reason: String
    /// A stable code: `UNDECODABLE` or the store's error code.
    var code: String
    /// Attempts made before giving up.
    var attempts: Int
    /// The worker that filed it.
    var worker: String
    /// When, ISO-8601.
    var failedAt: String

    enum CodingKeys: String, CodingKey {
        case raw, reason, code, attempts, worker, failedAt = "failed_at"
    }

    /// A dead letter for `payload` filed now by `worker`.
    init(payload: [UInt8], reason: String, code: String, attempts: Int = 1, worker: String) {
        self.raw = String(decoding: payload, as: UTF8.self)
        self.reason = reason
        self.code = code
        self.attempts = attempts
        self.worker = worker
        self.failedAt = Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())
    }

    /// The JSON kept in Redis.
    var encoded: [UInt8] {
        Array(try! JSONEncoder().encode(self))
    }
}

/// Turns queued payloads into storable events, setting aside those that do not decode.
enum PayloadDecoder {
    /// Decodes each payload; the undecodable ones come back with the reason.
    static func decode(_ payloads: [[UInt8]]) -> (events: [(index: Int, event: StoredEvent)], undecodable: [(index: Int, reason: String)]) {
        let decoder = JSONDecoder()
        var events: [(Int, StoredEvent)] = []
        var undecodable: [(Int, String)] = []
        for (index, payload) in payloads.enumerated() {
            do {
                let event = try decoder.decode(Event.self, from: Data(payload))
                guard !event.eventID.isEmpty, !event.siteID.isEmpty, !event.eventType.isEmpty else {
                    undecodable.append((index, "event_id, site_id and event_type must not be empty"))
                    continue
                }
                events.append((index, StoredEvent(event)))
            } catch {
                undecodable.append((index, "not a queued event: \(error)"))
            }
        }
        return (events, undecodable)
    }
}
