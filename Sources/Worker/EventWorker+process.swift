import Logging
import Metrics
import Shared

extension EventWorker {
    /// Stores one claimed batch and acknowledges it. Undecodable payloads and documents the
    /// store refuses for good become dead letters in the same step as the acknowledgement.
    /// Transient failures retry with full-jitter backoff, the batch staying in the processing
    /// list; on shutdown an unstored batch is handed back to the queue instead.
    func process(_ payloads: [[UInt8]], worker: String) async {
        let decoded = PayloadDecoder.decode(payloads)
        var deadLetters = decoded.undecodable.map { item in
            DeadLetter(payload: payloads[item.index], reason: item.reason, code: "UNDECODABLE", worker: worker).encoded
        }
        for item in decoded.undecodable {
            logger.warning("undecodable payload sent to dead letters", metadata: ["worker": "\(worker)", "reason": "\(item.reason)"])
        }
        let events = decoded.events.map(\.event)
        var attempt = 0
        while true {
            do {
                let report = try await store.insert(events)
                for (index, failure) in report.failures.sorted(by: { $0.key < $1.key }) {
                    let payload = payloads[decoded.events[index].index]
                    logger.error("event refused by the store; sent to dead letters", metadata: [
                        "worker": "\(worker)", "event_id": "\(events[index].event.eventID)", "error": "\(failure)",
                    ])
                    deadLetters.append(DeadLetter(payload: payload, reason: failure.message, code: "MONGO_\(failure.code)", attempts: attempt + 1, worker: worker).encoded)
                }
                Counter(label: "worker_events_stored_total").increment(by: report.inserted)
                Counter(label: "worker_events_duplicate_total").increment(by: report.duplicates)
                Counter(label: "worker_events_dead_lettered_total").increment(by: deadLetters.count)
                logger.debug("batch stored", metadata: [
                    "worker": "\(worker)", "events": "\(payloads.count)", "inserted": "\(report.inserted)",
                    "duplicates": "\(report.duplicates)", "dead": "\(deadLetters.count)",
                ])
                break
            } catch {
                if isStopping {
                    logger.warning("shutting down with an unstored batch; handing it back to the queue", metadata: ["worker": "\(worker)", "error": "\(error)"])
                    await acknowledgeOrRelease(worker: worker, release: true, deadLetters: [])
                    return
                }
                let delay = backoff.delay(forAttempt: attempt)
                let level: Logger.Level = error.isTransient ? .warning : .error
                logger.log(level: level, "store failed; retrying the batch", metadata: [
                    "worker": "\(worker)", "attempt": "\(attempt + 1)", "delay_ms": "\(delay.totalMilliseconds)",
                    "transient": "\(error.isTransient)", "error": "\(error)",
                ])
                Counter(label: "worker_store_retries_total").increment()
                attempt += 1
                try? await Task.sleep(for: delay)
            }
        }
        await acknowledgeOrRelease(worker: worker, release: false, deadLetters: deadLetters)
    }

    /// Acknowledges (or releases) until Redis confirms; a batch whose acknowledgement is lost
    /// is delivered again and stored as duplicates, which are no-ops.
    private func acknowledgeOrRelease(worker: String, release: Bool, deadLetters: [[UInt8]]) async {
        var attempt = 0
        while true {
            do {
                if release {
                    try await queue.release(worker: worker)
                } else {
                    try await queue.acknowledge(worker: worker, deadLetters: deadLetters)
                }
                return
            } catch {
                let delay = backoff.delay(forAttempt: attempt)
                logger.warning("acknowledge failed; retrying", metadata: [
                    "worker": "\(worker)", "attempt": "\(attempt + 1)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                attempt += 1
                if isStopping && attempt >= 5 {
                    logger.error("giving up on acknowledging at shutdown; the batch will be recovered and stored again as duplicates", metadata: ["worker": "\(worker)"])
                    return
                }
                try? await Task.sleep(for: delay)
            }
        }
    }
}
