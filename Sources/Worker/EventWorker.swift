import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Shared

/// The worker: `concurrency` claim loops, each claiming a batch into its own processing list,
/// storing it, and acknowledging it only after MongoDB confirmed; beside them, each in a task
/// of its own, heartbeats (`HeartbeatService`), the recovery of batches abandoned by dead
/// workers (`RecoveryService`) and the throttle poll. Stops claiming on graceful shutdown,
/// finishes (or hands back) the batch in hand and leaves the worker registry.
struct EventWorker: Service {
    let configuration: WorkerConfiguration
    let queue: ReliableQueue
    let store: MongoStore
    let logger: Logger
    /// One id per claim loop; the first is the process's.
    let workerIDs: [String]
    let backoff: any BackoffStrategy
    /// Pauses claiming while MongoDB keeps failing.
    let breaker: CircuitBreaker
    let stopping = NIOLockedValueBox(false)
    /// Throttle state in Redis (same connection pool as the queue).
    let throttleState: Throttle
    /// The rules in force: the environment's default plus the runtime rules, re-read every poll.
    let throttleSettings: NIOLockedValueBox<ThrottleSettings>
    /// Now, in Unix milliseconds; tests inject their own.
    let clock: @Sendable () -> Int64
    /// Keeps this process's workers alive in the registry.
    let heartbeats: HeartbeatService
    /// Recovers the batches of workers whose registry deadline passed.
    let recovery: RecoveryService
    /// Visitor salts and open visits in Redis (same connection pool as the queue).
    let visits: VisitTracker
    /// Countries by address; nil when no database could be opened (events then have none).
    let countries: CountryDatabase?

    /// A worker over the given clients; ids are unique per process and per loop. Heartbeats go
    /// through `heartbeatRedis` when given (a client of their own, so that no claim, store or
    /// recovery can hold them up), else through the queue's client.
    init(
        configuration: WorkerConfiguration, queue: ReliableQueue, store: MongoStore, logger: Logger, heartbeatRedis: RedisClient? = nil,
        countries: CountryDatabase? = nil, clock: @escaping @Sendable () -> Int64 = Timestamp.nowMillis
    ) {
        self.configuration = configuration
        self.queue = queue
        self.store = store
        self.logger = logger
        self.clock = clock
        self.throttleState = Throttle(redis: queue.redis, keys: queue.keys)
        self.visits = VisitTracker(redis: queue.redis, keys: queue.keys, maxPerBucket: configuration.visitsMaxPerBucket, maxPerSite: configuration.visitsMaxPerSite)
        self.countries = countries
        self.throttleSettings = NIOLockedValueBox(ThrottleSettings(
            defaultRule: configuration.throttleDefault, maxKeys: configuration.throttleMaxKeys, rememberedIDs: configuration.throttleRememberedIDs))
        let base = Self.processID()
        self.workerIDs = (0..<configuration.concurrency).map { "\(base)-\($0)" }
        self.backoff = configuration.backoff
        self.breaker = CircuitBreaker(threshold: configuration.breakerThreshold)
        self.heartbeats = HeartbeatService(
            queue: ReliableQueue(redis: heartbeatRedis ?? queue.redis, keys: queue.keys), workers: workerIDs,
            ttl: configuration.heartbeatTTL, interval: configuration.heartbeatInterval, logger: logger)
        self.recovery = RecoveryService(queue: queue, interval: configuration.recoveryInterval, logger: logger)
    }

    /// `host-pid-random`: unique even when pids repeat across machines or restarts.
    static func processID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(random)"
    }

    var isStopping: Bool { stopping.withLockedValue { $0 } }

    /// Runs until graceful shutdown (or cancellation), then leaves the registry.
    func run() async throws {
        await heartbeats.beat()
        await recovery.recoverOnce()
        await reloadThrottleRules()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                // Heartbeats and recovery end only when cancelled, after the claim loops: a
                // worker finishing its batch at shutdown stays alive in the registry.
                group.addTask { try? await self.heartbeats.run() }
                group.addTask { try? await self.recovery.run() }
                group.addTask { await self.throttleLoop() }
                for id in workerIDs {
                    group.addTask { await self.claimLoop(worker: id) }
                }
                for _ in workerIDs { await group.next() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("shutdown requested: no new claims; finishing batches in hand")
            stopping.withLockedValue { $0 = true }
        }
        do {
            let moved = try await queue.retire(workers: workerIDs)
            if moved > 0 { logger.warning("handed unacknowledged events back to the queue at exit", metadata: ["events": "\(moved)"]) }
        } catch {
            logger.warning("could not leave the worker registry; peers recover this worker's batch after its TTL", metadata: ["error": "\(error)"])
        }
        logger.info("worker stopped")
    }

    /// Sleeps `delay`, or less when graceful shutdown begins meanwhile; returns true when the
    /// worker is stopping (the caller then hands back or leaves what it holds).
    func pause(_ delay: Duration) async -> Bool {
        if isStopping { return true }
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        return isStopping || Task.isCancelled
    }

    /// Claim, store, acknowledge, until shutdown; no claims while the circuit breaker is open.
    /// Failures (a claim, a throttle decision) back off, ending early at shutdown.
    /// With a sharded queue, each claim starts at the next shard (loops start spread out), so
    /// every shard is drained in turn however the pushes fell.
    private func claimLoop(worker: String) async {
        var schedule = BackoffSchedule(backoff)
        var next = workerIDs.firstIndex(of: worker) ?? 0
        while !isStopping && !Task.isCancelled {
            if breaker.isOpen {
                if await pause(.milliseconds(100)) { return }
                continue
            }
            let payloads: [[UInt8]]
            let shard: QueueShardKeys
            do {
                (shard, payloads) = try await queue.claimAny(
                    worker: worker, max: configuration.batchSize, wait: configuration.claimWait, ttl: configuration.heartbeatTTL, start: next)
                next = shard.index + 1
            } catch {
                let delay = schedule.next()
                logger.warning("claim failed; backing off", metadata: [
                    "worker": "\(worker)", "attempt": "\(schedule.attempt)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                if await pause(delay) { return }
                continue
            }
            if payloads.isEmpty {
                schedule.reset()
                continue
            }
            if await process(payloads, worker: worker, shard: shard) {
                schedule.reset()
            } else if await pause(schedule.next()) {
                return
            }
        }
    }
}

extension EventWorker: CustomStringConvertible {
    /// Short, for ServiceLifecycle's logs (the default would print every setting).
    var description: String { "EventWorker(\(workerIDs.joined(separator: ",")))" }
}
