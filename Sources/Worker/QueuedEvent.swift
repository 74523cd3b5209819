import Foundation
import Shared

/// A claimed event: where it sits in the batch, what to store, and whether the throttle has
/// already seen it (`"checked":true`, or a summary with `"throttled":true`).
struct QueuedEvent {
    /// Index in the claimed batch.
    var index: Int
    /// The event and the count it stands for.
    var stored: StoredEvent
    /// Decided by the throttle before (a recovered batch) or a summary: never throttled again.
    var bypassesThrottle: Bool
    /// Failed store attempts before this one (events back from `et:retry`).
    var attempts = 0
    /// When its first store attempt failed, Unix ms.
    var firstFailedAt: Int64?

    /// The event as a canonical queue payload with its throttle marks (`count`, `throttled`,
    /// `checked`), and its failed attempts unless `withAttempts` is false (a replay starts over).
    func payload(withAttempts: Bool = true) -> [UInt8] {
        stored.event.queuePayload(marks: QueueMarks(
            count: stored.count, throttled: stored.throttled, checked: bypassesThrottle,
            attempts: withAttempts ? attempts : 0, firstFailedAt: withAttempts ? firstFailedAt : nil))
    }

    /// The payload to schedule for another attempt after one more failure at `now`.
    func retryPayload(now: Int64) -> [UInt8] {
        var next = self
        next.attempts += 1
        next.firstFailedAt = firstFailedAt ?? now
        return next.payload()
    }
}

/// What to do with an event MongoDB refused in a batch that was otherwise stored.
enum FailurePlan: Equatable {
    /// File it in `et:dead` now.
    case deadLetter
    /// Try again after this delay, through `et:retry`.
    case retry(after: Duration)

    /// Refused for what it is, or failed `maxAttempts` times: dead letter; else retry with backoff.
    static func plan(for failure: MongoError, previousAttempts: Int, maxAttempts: Int, backoff: any BackoffStrategy) -> FailurePlan {
        if failure.isPermanentForDocument || previousAttempts + 1 >= maxAttempts { return .deadLetter }
        return .retry(after: backoff.delay(forAttempt: previousAttempts))
    }
}

/// Turns queued payloads into storable events, setting aside those that do not decode.
enum PayloadDecoder {
    /// Decodes each payload; the undecodable ones come back with the reason.
    static func decode(_ payloads: [[UInt8]]) -> (events: [QueuedEvent], undecodable: [(index: Int, reason: String)]) {
        var events: [QueuedEvent] = []
        var undecodable: [(Int, String)] = []
        for (index, payload) in payloads.enumerated() {
            do {
                var (event, marks) = try QueueEnvelope.decode(payload)
                if let summaryID = marks.summaryID, marks.throttled { event.eventID = summaryID }
                guard !event.eventID.isEmpty, !event.siteID.isEmpty, !event.eventType.isEmpty else {
                    undecodable.append((index, "event_id, site_id and event_type must not be empty"))
                    continue
                }
                let throttled = marks.throttled
                guard marks.count >= 1 else {
                    undecodable.append((index, "count must be at least 1"))
                    continue
                }
                events.append(QueuedEvent(
                    index: index, stored: StoredEvent(event, count: marks.count, throttled: throttled),
                    bypassesThrottle: throttled || marks.checked, attempts: marks.attempts, firstFailedAt: marks.firstFailedAt))
            } catch {
                undecodable.append((index, "not a queued event: \(error)"))
            }
        }
        return (events, undecodable)
    }
}
