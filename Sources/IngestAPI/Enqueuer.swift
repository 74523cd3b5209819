import Foundation
import Metrics
import NIOConcurrencyHelpers
import Shared

/// Group commit for ingest: concurrent requests' events are coalesced into one variadic
/// `LPUSH` (or, when rate limits apply, one call of the script that checks them and pushes),
/// and each request is answered only after Redis confirmed the push holding its events. With
/// `maxInFlight` pushes outstanding, new arrivals wait and go out together in the next push,
/// so under load the Redis round trips per request fall towards zero. The waiting list is
/// bounded in bytes (`maxWaitingBytes`): past it a request is refused at once (`.overloaded`), never
/// left to grow memory.
final class Enqueuer: Sendable {
    /// One push: Redis's decision for each item in order, or why none was decided.
    typealias Push = @Sendable ([QueueItem]) async -> Result<[Admission], EnqueueError>

    private let push: Push
    private let maxInFlight: Int
    private let maxEventsPerPush: Int
    private let maxWaitingBytes: Int
    private let state = NIOLockedValueBox(State())
    private let latency = Timer(label: "ingest_enqueue_duration_seconds", preferredDisplayUnit: .seconds)

    private struct Waiter {
        var items: [QueueItem]
        var continuation: CheckedContinuation<Result<[Admission], EnqueueError>, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var waitingBytes = 0
        var inFlight = 0
    }

    /// Coalesces pushes to `queue`, at most `maxInFlight` at once; refuses them while the queue
    /// holds `highWater` events or more (0: never), and while `maxWaitingBytes` of payloads wait already.
    convenience init(
        queue: ReliableQueue, maxInFlight: Int, highWater: Int = 0, maxEventsPerPush: Int = 5000, maxWaitingBytes: Int = 64 << 20,
        maxRateLimitKeys: Int = ReliableQueue.defaultMaxRateLimitKeys
    ) {
        self.init(maxInFlight: maxInFlight, maxEventsPerPush: maxEventsPerPush, maxWaitingBytes: maxWaitingBytes) { items in
            await Self.push(items, to: queue, highWater: highWater, maxRateLimitKeys: maxRateLimitKeys)
        }
    }

    /// Coalesces calls of `push` (tests pass their own to check the slicing).
    init(maxInFlight: Int, maxEventsPerPush: Int = 5000, maxWaitingBytes: Int = 64 << 20, push: @escaping Push) {
        self.push = push
        self.maxInFlight = max(1, maxInFlight)
        self.maxEventsPerPush = max(1, maxEventsPerPush)
        self.maxWaitingBytes = max(1, maxWaitingBytes)
    }

    /// Returns once Redis has decided every item (queued, or refused by a rate limit), in order.
    /// Throws `.overloaded` at once when the waiting list is full and `.queueFull` when the
    /// queue is at its mark (nothing of this call was queued then), or `.redis` when Redis did
    /// not confirm (see `RedisError.mayHaveRun` for whether the events may be queued anyway).
    func enqueue(_ items: [QueueItem]) async throws(EnqueueError) -> [Admission] {
        let start = ContinuousClock.now
        let bytes = items.reduce(0) { $0 + $1.payload.count }
        let result = await withCheckedContinuation { continuation in
            let action: Action = state.withLockedValue { state in
                // Over the budget a request is refused, unless nothing waits: one request always gets its turn.
                guard state.waitingBytes == 0 || state.waitingBytes + bytes <= maxWaitingBytes else { return .refuse }
                state.waiting.append(Waiter(items: items, continuation: continuation))
                state.waitingBytes += bytes
                guard state.inFlight < maxInFlight else { return .wait }
                state.inFlight += 1
                return .flush
            }
            switch action {
            case .refuse: continuation.resume(returning: .failure(.overloaded))
            case .wait: break
            case .flush: Task { await self.flush() }
            }
        }
        latency.recordInterval(since: start)
        return try result.get()
    }

    private enum Action { case refuse, wait, flush }

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
                state.waitingBytes -= state.waiting.prefix(taken).reduce(0) { total, waiter in waiter.items.reduce(total) { $0 + $1.payload.count } }
                defer { state.waiting.removeFirst(taken) }
                return Array(state.waiting.prefix(taken))
            }
            if batch.isEmpty { return }
            let items = batch.flatMap(\.items)
            var result = await push(items)
            if case .success(let admissions) = result, admissions.count != items.count {
                result = .failure(.redis(.unexpectedReply("\(admissions.count) decisions for \(items.count) events")))
            }
            var offset = 0
            for waiter in batch {
                let end = offset + waiter.items.count
                waiter.continuation.resume(returning: result.map { Array($0[offset..<end]) })
                offset = end
            }
        }
    }

    /// One push for all of `items`: a plain bounded `LPUSH` when no rate limit applies, else the
    /// script that checks the limits and pushes; the decisions in order.
    private static func push(_ items: [QueueItem], to queue: ReliableQueue, highWater: Int, maxRateLimitKeys: Int) async -> Result<[Admission], EnqueueError> {
        // With shards, a push sees one shard's length: the health check records the total.
        func record(_ depth: Int) {
            if queue.keys.shards.count == 1 { IngestMetrics.queueDepth.record(depth) }
        }
        do {
            if items.allSatisfy(\.limits.isEmpty) {
                guard let depth = try await queue.enqueue(items.map(\.payload), highWater: highWater) else { return .failure(.queueFull) }
                record(depth)
                return .success(Array(repeating: .unlimited, count: items.count))
            }
            guard let (admissions, depth) = try await queue.enqueue(admitting: items, now: Timestamp.nowMillis(), highWater: highWater, maxKeys: maxRateLimitKeys) else {
                return .failure(.queueFull)
            }
            record(depth)
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
    /// Too many events already wait for a push (`INGEST_MAX_WAITING_BYTES`): refused before queueing.
    case overloaded
}
