import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Shared

/// The worker: `concurrency` claim loops, each claiming a batch into its own processing list,
/// storing it, and acknowledging it only after MongoDB confirmed; plus heartbeats and the
/// recovery of batches abandoned by dead workers. Stops claiming on graceful shutdown and
/// finishes the batch in hand.
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

    /// A worker over the given clients; ids are unique per process and per loop.
    init(
        configuration: WorkerConfiguration, queue: ReliableQueue, store: MongoStore, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = Timestamp.nowMillis
    ) {
        self.configuration = configuration
        self.queue = queue
        self.store = store
        self.logger = logger
        self.clock = clock
        self.throttleState = Throttle(redis: queue.redis, keys: queue.keys)
        self.throttleSettings = NIOLockedValueBox(ThrottleSettings(
            defaultRule: configuration.throttleDefault, maxKeys: configuration.throttleMaxKeys, dedupWindow: configuration.throttleDedupWindow))
        let base = Self.processID()
        self.workerIDs = (0..<configuration.concurrency).map { "\(base)-\($0)" }
        self.backoff = configuration.backoff
        self.breaker = CircuitBreaker(threshold: configuration.breakerThreshold)
    }

    /// `host-pid-random`: unique even when pids repeat across machines or restarts.
    static func processID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        let random = String(UInt32.random(in: .min ... .max), radix: 16)
        return "\(host)-\(ProcessInfo.processInfo.processIdentifier)-\(random)"
    }

    var isStopping: Bool { stopping.withLockedValue { $0 } }

    /// Runs until graceful shutdown (or cancellation), then retires the heartbeats.
    func run() async throws {
        await withGracefulShutdownHandler {
            await beatAll()
            await recover()
            await reloadThrottleRules()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.keepAlive() }
                group.addTask { await self.throttleLoop() }
                for id in workerIDs {
                    group.addTask { await self.claimLoop(worker: id) }
                }
                // The claim loops end on shutdown; then stop the housekeeping too.
                for _ in workerIDs { await group.next() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("shutdown requested: no new claims; finishing batches in hand")
            stopping.withLockedValue { $0 = true }
        }
        for id in workerIDs {
            try? await queue.retire(worker: id)
        }
        logger.info("worker stopped")
    }

    /// Refreshes heartbeats and looks for abandoned batches until cancelled.
    private func keepAlive() async {
        var sinceRecovery: Duration = .zero
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            await beatAll()
            sinceRecovery += configuration.heartbeatInterval
            if sinceRecovery >= configuration.recoveryInterval {
                sinceRecovery = .zero
                await recover()
            }
        }
    }

    /// Every poll interval: re-reads the runtime throttle rules, requeues events due for another
    /// store attempt, and queues due throttle summaries.
    private func throttleLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.throttlePollInterval)
            if Task.isCancelled { return }
            await reloadThrottleRules()
            do {
                let promoted = try await queue.promoteDueRetries(now: clock())
                if promoted > 0 { logger.info("events due for another store attempt requeued", metadata: ["events": "\(promoted)"]) }
            } catch {
                logger.warning("could not requeue due retries", metadata: ["error": "\(error)"])
            }
            do {
                let flushed = try await throttleState.flushDue(now: clock())
                if flushed > 0 {
                    WorkerMetrics.summariesQueued(flushed)
                    logger.debug("queued throttle summaries", metadata: ["summaries": "\(flushed)"])
                }
            } catch {
                logger.warning("could not queue due throttle summaries", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Applies rules changed with `Worker throttle set|delete`; an unreadable rule is skipped and logged.
    func reloadThrottleRules() async {
        do {
            let rules = try await throttleState.rules { field, error in
                logger.error("ignoring unreadable throttle rule", metadata: ["scope": "\(field)", "error": "\(error)"])
            }
            let changed = throttleSettings.withLockedValue { settings in
                let before = Set(settings.rules.map { "\($0.key.field)=\($0.value.json.serialized)" })
                settings.rules = rules
                return before != Set(rules.map { "\($0.key.field)=\($0.value.json.serialized)" })
            }
            if changed {
                WorkerMetrics.configUpdated()
                logger.info("throttle rules applied", metadata: ["rules": "\(rules.count)"])
            }
        } catch {
            logger.warning("could not read throttle rules; keeping the ones in force", metadata: ["error": "\(error)"])
        }
    }

    private func beatAll() async {
        do {
            try await queue.heartbeat(workers: workerIDs, ttl: configuration.heartbeatTTL)
        } catch {
            logger.warning("heartbeat failed", metadata: ["workers": "\(workerIDs.count)", "error": "\(error)"])
        }
    }

    /// Moves batches of workers whose heartbeat expired back to the queue.
    func recover() async {
        do {
            let recovered = try await queue.recoverAbandoned()
            if recovered.lists > 0 {
                logger.notice("recovered abandoned batches", metadata: ["lists": "\(recovered.lists)", "events": "\(recovered.events)"])
            }
        } catch {
            logger.warning("recovery scan failed", metadata: ["error": "\(error)"])
        }
    }

    /// Claim, store, acknowledge, until shutdown; no claims while the circuit breaker is open.
    private func claimLoop(worker: String) async {
        var schedule = BackoffSchedule(backoff)
        while !isStopping && !Task.isCancelled {
            if breaker.isOpen {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            let payloads: [[UInt8]]
            do {
                payloads = try await queue.claim(worker: worker, max: configuration.batchSize, wait: configuration.claimWait)
                schedule.reset()
            } catch {
                let delay = schedule.next()
                logger.warning("claim failed; backing off", metadata: [
                    "worker": "\(worker)", "attempt": "\(schedule.attempt)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                try? await Task.sleep(for: delay)
                continue
            }
            if payloads.isEmpty { continue }
            await process(payloads, worker: worker)
        }
    }
}

extension EventWorker: CustomStringConvertible {
    /// Short, for ServiceLifecycle's logs (the default would print every setting).
    var description: String { "EventWorker(\(workerIDs.joined(separator: ",")))" }
}
