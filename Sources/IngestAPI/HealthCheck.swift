import NIOConcurrencyHelpers
import Shared

/// What one look at Redis and MongoDB found.
struct HealthSnapshot: Sendable {
    /// Events in the queue; nil when Redis did not answer in time.
    var queueDepth: Int?
    /// Dead letters; nil when Redis did not answer in time.
    var deadLetters: Int?
    /// Whether MongoDB answered `ping` in time.
    var mongo: Bool
}

/// One health check at a time, its answer shared by every caller: a flood of `/healthz` probes
/// costs one look at Redis and MongoDB per `freshness`, and no probe is ever refused for being
/// one of many (a load balancer would read that 503 as "unhealthy"). While a check runs, a
/// snapshot younger than `staleness` answers at once, so a probe waits for Redis and MongoDB
/// only when nothing recent is known.
final class HealthCheck: Sendable {
    private let queue: ReliableQueue
    private let store: MongoStore
    private let deadline: Duration
    private let freshness: Duration
    private let staleness: Duration
    private let state = NIOLockedValueBox(State())

    private struct State {
        var last: (at: ContinuousClock.Instant, snapshot: HealthSnapshot)?
        var check: Task<HealthSnapshot, Never>?
        /// The ping and the Redis read in flight: never more than one of each, however long a
        /// hung server holds them (each holds a store thread or a Redis connection meanwhile).
        var ping: Task<Bool, Never>?
        var counts: Task<(depth: Int, deadLetters: Int)?, Never>?
    }

    /// Checks `queue`'s Redis and `store`, waiting at most `deadline` for both; answers are reused
    /// for `freshness`, and served while a new check runs for `staleness`.
    init(queue: ReliableQueue, store: MongoStore, deadline: Duration = .seconds(2), freshness: Duration = .seconds(1), staleness: Duration = .seconds(5)) {
        self.queue = queue
        self.store = store
        self.deadline = deadline
        self.freshness = freshness
        self.staleness = staleness
    }

    /// The latest snapshot, checked anew when older than `freshness`.
    func current() async -> HealthSnapshot {
        enum Next { case answer(HealthSnapshot), wait(Task<HealthSnapshot, Never>) }
        let next: Next = state.withLockedValue { state in
            let age = state.last.map { ContinuousClock.now - $0.at }
            if let last = state.last, let age, age < freshness { return .answer(last.snapshot) }
            let check = state.check ?? Task { await self.check() }
            state.check = check
            if let last = state.last, let age, age < staleness { return .answer(last.snapshot) }
            return .wait(check)
        }
        switch next {
        case .answer(let snapshot): return snapshot
        case .wait(let check): return await check.value
        }
    }

    /// Looks at Redis and MongoDB at once, waiting `deadline` for both. The blocking calls run in
    /// tasks of their own that are never cancelled (cancelling a started NIOThreadPool job leaks
    /// its id inside NIO) and never doubled: a call still out from an earlier check is waited
    /// for again, not sent again. They end within the clients' own timeouts.
    private func check() async -> HealthSnapshot {
        let ping = pingTask()
        let counts = countsTask()
        async let mongo = (try? await withDeadline(deadline) { await ping.value }) ?? false
        async let found = (try? await withDeadline(deadline) { await counts.value }) ?? nil
        let snapshot = HealthSnapshot(queueDepth: await found?.depth, deadLetters: await found?.deadLetters, mongo: await mongo)
        state.withLockedValue { state in
            state.last = (ContinuousClock.now, snapshot)
            state.check = nil
        }
        return snapshot
    }

    private func pingTask() -> Task<Bool, Never> {
        state.withLockedValue { state in
            if let running = state.ping { return running }
            let task = Task { [store] in
                let ok = (try? await store.ping()) != nil
                self.state.withLockedValue { $0.ping = nil }
                return ok
            }
            state.ping = task
            return task
        }
    }

    private func countsTask() -> Task<(depth: Int, deadLetters: Int)?, Never> {
        state.withLockedValue { state in
            if let running = state.counts { return running }
            let task = Task { [queue] in
                let counts = try? await queue.depthAndDeadLetters()
                self.state.withLockedValue { $0.counts = nil }
                return counts
            }
            state.counts = task
            return task
        }
    }
}
