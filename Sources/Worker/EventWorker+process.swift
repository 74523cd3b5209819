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
        guard let queued = await throttle(decoded, payloads: payloads, worker: worker) else { return }
        let events = queued.map(\.stored)
        var retries: [(payload: [UInt8], due: Int64)] = []
        if events.isEmpty {  // nothing to store (all throttled or undecodable): MongoDB plays no part
            await acknowledgeOrRelease(worker: worker, release: false, deadLetters: deadLetters)
            return
        }
        var schedule = BackoffSchedule(backoff)
        while true {
            if breaker.isOpen {
                // MongoDB keeps failing: probe with a ping at backoff intervals, not with the batch.
                do {
                    try await store.ping()
                    if breaker.recordSuccess() {
                        WorkerMetrics.breaker(open: false)
                        logger.notice("MongoDB answers again; circuit breaker closed, claiming resumes", metadata: ["worker": "\(worker)"])
                    }
                } catch {
                    if isStopping {
                        await acknowledgeOrRelease(worker: worker, release: true, deadLetters: [])
                        return
                    }
                    try? await Task.sleep(for: schedule.next())
                    continue
                }
            }
            do {
                let report = try await store.insert(events)
                _ = breaker.recordSuccess()
                let now = clock()
                for (index, failure) in report.failures.sorted(by: { $0.key < $1.key }) {
                    let item = queued[index]
                    let plan = FailurePlan.plan(
                        for: failure, previousAttempts: item.attempts, maxAttempts: configuration.eventMaxAttempts, backoff: backoff)
                    switch plan {
                    case .deadLetter:
                        logger.error("event refused by the store; sent to dead letters", metadata: [
                            "worker": "\(worker)", "event_id": "\(item.stored.event.eventID)", "attempts": "\(item.attempts + 1)", "error": "\(failure)",
                        ])
                        deadLetters.append(DeadLetter(
                            payload: payloads[item.index], eventID: item.stored.event.eventID, reason: failure.message,
                            code: "MONGO_\(failure.code)", attempts: item.attempts + 1, worker: worker, firstFailedAt: item.firstFailedAt).encoded)
                    case .retry(let delay):
                        logger.warning("event refused by the store for an unknown reason; retrying it alone later", metadata: [
                            "worker": "\(worker)", "event_id": "\(item.stored.event.eventID)", "attempts": "\(item.attempts + 1)",
                            "delay_ms": "\(delay.totalMilliseconds)", "error": "\(failure)",
                        ])
                        retries.append((item.retryPayload(now: now), now + delay.totalMilliseconds))
                    }
                }
                WorkerMetrics.store("stored", count: report.inserted)
                WorkerMetrics.store("duplicate", count: report.duplicates)
                WorkerMetrics.store("dead_lettered", count: deadLetters.count)
                WorkerMetrics.store("retry_scheduled", count: retries.count)
                logger.debug("batch stored", metadata: [
                    "worker": "\(worker)", "events": "\(events.count)", "inserted": "\(report.inserted)",
                    "duplicates": "\(report.duplicates)", "dead": "\(deadLetters.count)",
                ])
                break
            } catch {
                if isStopping {
                    logger.warning("shutting down with an unstored batch; handing it back to the queue", metadata: ["worker": "\(worker)", "error": "\(error)"])
                    await acknowledgeOrRelease(worker: worker, release: true, deadLetters: [])
                    return
                }
                if error.isTransient, breaker.recordFailure() {
                    WorkerMetrics.breaker(open: true)
                    logger.error("circuit breaker open: MongoDB failed \(configuration.breakerThreshold) times in a row; claiming paused, probing with ping", metadata: [
                        "worker": "\(worker)", "error": "\(error)",
                    ])
                }
                let delay = schedule.next()
                let level: Logger.Level = error.isTransient ? .warning : .error
                logger.log(level: level, "store failed; retrying the batch", metadata: [
                    "worker": "\(worker)", "attempt": "\(schedule.attempt)", "delay_ms": "\(delay.totalMilliseconds)",
                    "transient": "\(error.isTransient)", "error": "\(error)",
                ])
                WorkerMetrics.store("retry")
                try? await Task.sleep(for: delay)
            }
        }
        await acknowledgeOrRelease(worker: worker, release: false, deadLetters: deadLetters, retries: retries)
    }

    /// Content throttling of a batch: returns what to store now, or nil when the batch is no
    /// longer this worker's to store (its heartbeat expired and it may have been recovered, or
    /// Redis stayed away until shutdown; the batch then stays in Redis for recovery).
    func throttle(_ decoded: (events: [QueuedEvent], undecodable: [(index: Int, reason: String)]), payloads: [[UInt8]], worker: String)
        async -> [QueuedEvent]?
    {
        let settings = throttleSettings.withLockedValue { $0 }
        guard settings.isActive else { return decoded.events }
        var kept = decoded.undecodable.map { payloads[$0.index] }
        var store: [QueuedEvent] = []
        var candidates: [ThrottleCandidate] = []
        var candidateEvents: [QueuedEvent] = []
        for item in decoded.events {
            let event = item.stored.event
            if !item.bypassesThrottle, let rule = settings.rule(siteID: event.siteID, eventType: event.eventType) {
                // Canonical bytes (not the raw payload): the script appends marks before the closing brace.
                candidates.append(ThrottleCandidate(event: event, payload: item.payload(), rule: rule))
                candidateEvents.append(item)
            } else {
                kept.append(payloads[item.index])
                store.append(item)
            }
        }
        if candidates.isEmpty { return decoded.events }
        let batch = worker + ":" + String(UInt64.random(in: 0 ... .max), radix: 36)
        var schedule = BackoffSchedule(backoff)
        while true {
            do {
                let outcomes = try await throttleState.decide(
                    worker: worker, batch: batch, kept: kept, candidates: candidates, maxKeys: settings.maxKeys,
                    dedupWindow: settings.dedupWindow, now: clock())
                for (item, outcome) in zip(candidateEvents, outcomes) {
                    WorkerMetrics.throttled(outcome)
                    logger.debug("throttle decision", metadata: [
                        "worker": "\(worker)", "event_id": "\(item.stored.event.eventID)", "site_id": "\(item.stored.event.siteID)",
                        "event_type": "\(item.stored.event.eventType)", "outcome": "\(outcome.rawValue)",
                    ])
                    if outcome.isStored {
                        var decided = item
                        decided.bypassesThrottle = true  // a retry of it through et:retry is not counted again
                        store.append(decided)
                    }
                }
                return store
            } catch {
                if case .command(let message) = error, message.hasPrefix("NOTOWNER") {
                    logger.error("batch recovered by another worker while this one was paused; dropping it", metadata: ["worker": "\(worker)"])
                    return nil
                }
                if isStopping {
                    logger.warning("shutting down before the throttle answered; the batch stays in Redis for recovery", metadata: ["worker": "\(worker)"])
                    return nil
                }
                let delay = schedule.next()
                logger.warning("throttle decision failed; retrying", metadata: [
                    "worker": "\(worker)", "attempt": "\(schedule.attempt)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                try? await Task.sleep(for: delay)
            }
        }
    }

    /// Acknowledges (or releases) until Redis confirms; a batch whose acknowledgement is lost
    /// is delivered again and stored as duplicates, which are no-ops.
    private func acknowledgeOrRelease(worker: String, release: Bool, deadLetters: [[UInt8]], retries: [(payload: [UInt8], due: Int64)] = []) async {
        var schedule = BackoffSchedule(backoff)
        while true {
            do {
                if release {
                    try await queue.release(worker: worker)
                } else if try await !queue.acknowledge(worker: worker, deadLetters: deadLetters, retries: retries) {
                    WorkerMetrics.store("fenced")
                    logger.error(
                        "batch recovered by another worker while this one was paused; acknowledgement dropped, the other worker stores it",
                        metadata: ["worker": "\(worker)"])
                }
                return
            } catch {
                let delay = schedule.next()
                logger.warning("acknowledge failed; retrying", metadata: [
                    "worker": "\(worker)", "attempt": "\(schedule.attempt)", "delay_ms": "\(delay.totalMilliseconds)", "error": "\(error)",
                ])
                if isStopping && schedule.attempt >= 5 {
                    logger.error("giving up on acknowledging at shutdown; the batch will be recovered and stored again as duplicates", metadata: ["worker": "\(worker)"])
                    return
                }
                try? await Task.sleep(for: delay)
            }
        }
    }
}
