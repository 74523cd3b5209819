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
    let backoff: FullJitterBackoff
    let stopping = NIOLockedValueBox(false)

    /// A worker over the given clients; ids are unique per process and per loop.
    init(configuration: WorkerConfiguration, queue: ReliableQueue, store: MongoStore, logger: Logger) {
        self.configuration = configuration
        self.queue = queue
        self.store = store
        self.logger = logger
        let base = Self.processID()
        self.workerIDs = (0..<configuration.concurrency).map { "\(base)-\($0)" }
        self.backoff = .fullJitter(base: configuration.retryBase, cap: configuration.retryCap)
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
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.keepAlive() }
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

    /// Claim, store, acknowledge, until shutdown.
    private func claimLoop(worker: String) async {
        var redisFailures = 0
        while !isStopping && !Task.isCancelled {
            let payloads: [[UInt8]]
            do {
                payloads = try await queue.claim(worker: worker, max: configuration.batchSize, wait: configuration.claimWait)
                redisFailures = 0
            } catch {
                let delay = backoff.delay(forAttempt: redisFailures)
                logger.warning("claim failed; backing off", metadata: [
                    "worker": "\(worker)", "attempt": "\(redisFailures + 1)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                redisFailures += 1
                try? await Task.sleep(for: delay)
                continue
            }
            if payloads.isEmpty { continue }
            await process(payloads, worker: worker)
        }
    }
}
