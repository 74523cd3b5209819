import Metrics
import NIOConcurrencyHelpers
import Shared

/// Group commit for ingest: concurrent requests' events are coalesced into one variadic
/// `LPUSH`, and each request is answered only after Redis confirmed the push holding its
/// events. With `maxInFlight` pushes outstanding, new arrivals wait and go out together in
/// the next push, so under load the Redis round trips per request fall towards zero.
final class Enqueuer: Sendable {
    private let queue: ReliableQueue
    private let maxInFlight: Int
    private let maxEventsPerPush: Int
    private let state = NIOLockedValueBox(State())
    private let latency = Timer(label: "ingest_enqueue_duration_seconds", preferredDisplayUnit: .seconds)


    private struct Waiter {
        var payloads: [[UInt8]]
        var continuation: CheckedContinuation<Result<Int, RedisError>, Never>
    }

    private struct State {
        var waiting: [Waiter] = []
        var inFlight = 0
    }

    /// Coalesces pushes to `queue`, at most `maxInFlight` at once.
    init(queue: ReliableQueue, maxInFlight: Int, maxEventsPerPush: Int = 5000) {
        self.queue = queue
        self.maxInFlight = max(1, maxInFlight)
        self.maxEventsPerPush = maxEventsPerPush
    }

    /// Returns once every payload is in Redis (the queue's length then), or throws and none of
    /// this call's payloads were confirmed.
    func enqueue(_ payloads: [[UInt8]]) async throws(RedisError) -> Int {
        let start = ContinuousClock.now
        let result = await withCheckedContinuation { continuation in
            let startFlush = state.withLockedValue { state in
                state.waiting.append(Waiter(payloads: payloads, continuation: continuation))
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
                    if count > 0, count + waiter.payloads.count > maxEventsPerPush { break }
                    count += waiter.payloads.count
                    taken += 1
                }
                defer { state.waiting.removeFirst(taken) }
                return Array(state.waiting.prefix(taken))
            }
            if batch.isEmpty { return }
            let result: Result<Int, RedisError>
            do {
                let length = try await queue.enqueue(batch.flatMap(\.payloads))
                IngestMetrics.queueDepth.record(length)
                result = .success(length)
            } catch {
                result = .failure(error)
            }
            for waiter in batch { waiter.continuation.resume(returning: result) }
        }
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds((ContinuousClock.now - start).totalNanoseconds)
    }
}
