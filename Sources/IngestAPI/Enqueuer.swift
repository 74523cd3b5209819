import Foundation
import Metrics
import NIOConcurrencyHelpers
import Shared

/// Group commit for ingest: concurrent requests' events are coalesced into one variadic
/// `LPUSH` (or, when rate limits apply, one call of the script that checks them and pushes),
/// and each request is answered only after Redis confirmed the push holding its events. With `maxInFlight` pushes outstanding, new arrivals wait and go out together in
/// the next push, so under load the Redis round trips per request fall towards zero.
final class Enqueuer: Sendable {
    private let queue: ReliableQueue
    private let maxInFlight: Int
    private let highWater: Int
    private let maxEventsPerPush: Int
    private let state = NIOLockedValueBox(State())
    private let latency = Timer(label: "ingest_enqueue_duration_seconds", preferredDisplayUnit: .seconds)


    private struct Waiter {
        var items: [QueueItem]
        var continuation: CheckedContinuation<Result<[Admission], EnqueueError>, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
    }

    /// Coalesces pushes to `queue`, at most `maxInFlight` at once; refuses them while the queue
    /// holds `highWater` events or more (0: never).
    init(queue: ReliableQueue, maxInFlight: Int, highWater: Int = 0, maxEventsPerPush: Int = 5000) {
        self.queue = queue
        self.highWater = highWater
        self.maxInFlight = max(1, maxInFlight)
        self.maxEventsPerPush = maxEventsPerPush
    }

    /// Returns once Redis has decided every item (queued, or refused by a rate limit), in order;
    /// throws if Redis did not answer or the queue is full, and then none of this call's items were queued.
    func enqueue(_ items: [QueueItem]) async throws(EnqueueError) -> [Admission] {
        let start = ContinuousClock.now
        let result = await withCheckedContinuation { continuation in
            let startFlush = state.withLockedValue { state in
                state.waiting.append(Waiter(items: items, continuation: continuation))
                guard state.inFlight < maxInFlight else { return false }
                state.inFlight += 1
                return true
            }
            if startFlush {
                Task { await self.flush() }
            }
        }
        latency.recordInterval(since: start)
        return try result.get()
    }

    /// Pushes whatever is waiting, repeatedly, until nothing is.
    private func flush() async {
        while true {
            let batch: [Waiter] = state.withLockedValue { state in
                guard !state.waiting.isEmpty else {
                    state.inFlight -= 1
                    return []
                }
                var taken = 0
                var count = 0
                for waiter in state.waiting {
                    if count > 0, count + waiter.items.count > maxEventsPerPush { break }
                    count += waiter.items.count
                    taken += 1
                }
                defer { state.waiting.removeFirst(taken) }
                return Array(state.waiting.prefix(taken))
            }
            if batch.isEmpty { return }
            let result = await push(batch.flatMap(\.items))
            var offset = 0
            for waiter in batch {
                waiter.continuation.resume(returning: result.map { Array($0[offset..<offset + waiter.items.count]) })
                offset += waiter.items.count
            }
        }
    }

    /// One push for all of `items`: a plain bounded `LPUSH` when no rate limit applies, else the
    /// script that checks the limits and pushes; the decisions in order.
    private func push(_ items: [QueueItem]) async -> Result<[Admission], EnqueueError> {
        do {
            if items.allSatisfy(\.limits.isEmpty) {
                guard let depth = try await queue.enqueue(items.map(\.payload), highWater: highWater) else { return .failure(.queueFull) }
                IngestMetrics.queueDepth.record(depth)
                return .success(Array(repeating: .unlimited, count: items.count))
            }
            guard let (admissions, depth) = try await queue.enqueue(admitting: items, now: Timestamp.nowMillis(), highWater: highWater) else {
                return .failure(.queueFull)
            }
            IngestMetrics.queueDepth.record(depth)
            return .success(admissions)
        } catch {
            return .failure(.redis(error))
        }
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).totalNanoseconds)
    }
}

/// Why events were not queued.
enum EnqueueError: Error {
    /// Redis did not confirm the push.
    case redis(RedisError)
    /// The queue is at its high-water mark (`QUEUE_MAX`): workers are behind.
    case queueFull
}
