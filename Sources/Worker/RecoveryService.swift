import Logging
import ServiceLifecycle
import Shared

/// Every `interval`, moves the batches of workers whose registry deadline passed (by Redis's
/// clock) back to the queue. Costs O(expired workers) per round, whatever else Redis holds,
/// and runs in a task of its own so that it never delays a heartbeat or a claim. A batch
/// abandoned by a dead worker is back in the queue within its TTL plus one interval.
struct RecoveryService: Service {
    /// The queue recovered into.
    let queue: ReliableQueue
    /// Time between rounds.
    let interval: Duration
    let logger: Logger

    /// Recovers every `interval` until cancelled.
    func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            await recoverOnce()
        }
    }

    /// One round; failures are logged and retried next round.
    func recoverOnce() async {
        do {
            let recovered = try await queue.recoverAbandoned()
            if recovered.lists > 0 {
                logger.notice("recovered abandoned batches", metadata: ["lists": "\(recovered.lists)", "events": "\(recovered.events)"])
            }
        } catch {
            logger.warning("recovery failed", metadata: ["error": "\(error)"])
        }
    }
}
