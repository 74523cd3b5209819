import Logging
import ServiceLifecycle
import Shared

/// Keeps a process's workers alive in the worker registry: every `interval`, one Lua call sets
/// all their deadlines to Redis's now + `ttl`. Runs in a task of its own, on a Redis client of
/// its own in the worker process, so neither a slow store, a blocking claim nor a recovery can
/// delay it. Runs until cancelled (not at graceful shutdown: a worker finishing its batch is alive).
struct HeartbeatService: Service {
    /// The queue (and Redis client) heartbeats go through.
    let queue: ReliableQueue
    /// The worker ids kept alive.
    let workers: [String]
    /// How long a deadline lies ahead.
    let ttl: Duration
    /// Time between beats.
    let interval: Duration
    let logger: Logger

    /// Beats every `interval` until cancelled; the first beat is immediate.
    func run() async throws {
        while !Task.isCancelled {
            await beat()
            try await Task.sleep(for: interval)
        }
    }

    /// One beat for every worker; a failure is logged (the next beat may still be in time).
    func beat() async {
        do {
            try await queue.heartbeat(workers: workers, ttl: ttl)
        } catch {
            logger.warning("heartbeat failed", metadata: ["workers": "\(workers.count)", "error": "\(error)"])
        }
    }
}
