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

/// One health check at a time, its answer shared by every caller for `freshness`: a flood of
/// `/healthz` probes costs one look at Redis and MongoDB per `freshness`, and no probe is ever
/// refused for being one of many (a load balancer would read that 503 as "unhealthy").
final class HealthCheck: Sendable {
    private let queue: ReliableQueue
    private let store: MongoStore
    private let deadline: Duration
    private let freshness: Duration
    private let state = NIOLockedValueBox(State())

    private struct State {
        var last: (at: ContinuousClock.Instant, snapshot: HealthSnapshot)?
        var running: Task<HealthSnapshot, Never>?
    }

    /// Checks `queue`'s Redis and `store`, waiting at most `deadline` for each; answers are reused for `freshness`.
    init(queue: ReliableQueue, store: MongoStore, deadline: Duration = .seconds(2), freshness: Duration = .seconds(1)) {
        self.queue = queue
        self.store = store
        self.deadline = deadline
        self.freshness = freshness
    }

    /// The latest snapshot, checked anew when older than `freshness`.
    func current() async -> HealthSnapshot {
        enum Next { case cached(HealthSnapshot), wait(Task<HealthSnapshot, Never>) }
        let next: Next = state.withLockedValue { state in
            if let last = state.last, ContinuousClock.now - last.at < freshness { return .cached(last.snapshot) }
            if let running = state.running { return .wait(running) }
            let task = Task { await self.check() }
            state.running = task
            return .wait(task)
        }
        switch next {
        case .cached(let snapshot): return snapshot
        case .wait(let task): return await task.value
        }
    }

    /// Looks at Redis and MongoDB at once. The blocking calls run in tasks of their own that are
    /// never cancelled (cancelling a started NIOThreadPool job leaks its id inside NIO); the
    /// check stops waiting for them at `deadline`, and they end within the clients' own timeouts.
    private func check() async -> HealthSnapshot {
        let ping = Task { [store] in (try? await store.ping()) != nil }
        let counts = Task { [queue] in try? await (queue.depth(), queue.deadLetterCount()) }
        let mongo = (try? await withDeadline(deadline) { await ping.value }) ?? false
        let found = (try? await withDeadline(deadline) { await counts.value }) ?? nil
        let snapshot = HealthSnapshot(queueDepth: found?.0, deadLetters: found?.1, mongo: mongo)
        state.withLockedValue { state in
            state.last = (ContinuousClock.now, snapshot)
            state.running = nil
        }
        return snapshot
    }
}
