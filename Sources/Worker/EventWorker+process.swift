import Logging
import Metrics
import Shared

extension EventWorker {
    /// Stores one claimed batch and acknowledges it. Undecodable payloads and documents the
    /// store refuses for good become dead letters in the same step as the acknowledgement.
    /// Transient failures retry with full-jitter backoff, the batch staying in the processing
    /// list; on shutdown (which ends any backoff sleep) an unstored batch is handed back to the
    /// queue instead. Returns false when the caller should back off before its next claim (the
    /// throttle decision failed and the batch was given up; see `throttle`).
    func process(_ payloads: [[UInt8]], worker: String, shard: QueueShardKeys) async -> Bool {
        var decoded = PayloadDecoder.decode(payloads)
        do {
            try await enrich(&decoded.events)
        } catch {
            // Like a failed throttle decision: give the batch up and claim it again after a
            // backoff; salts and visits in Redis make the second pass give the same answer.
            logger.warning("visit enrichment failed; giving the batch up to claim it again", metadata: ["worker": "\(worker)", "error": "\(error)"])
            return false
        }
        var deadLetters = decoded.undecodable.map { item in
            DeadLetter(payload: payloads[item.index], reason: item.reason, code: "UNDECODABLE", worker: worker).encoded
        }
        for item in decoded.undecodable {
            logger.warning("undecodable payload sent to dead letters", metadata: ["worker": "\(worker)", "reason": "\(item.reason)"])
        }
        let queued: [QueuedEvent]
        switch await throttle(decoded, payloads: payloads, worker: worker, shard: shard) {
        case .store(let events): queued = events
        case .fenced: return true
        case .givenUp: return false
        }
        let events = queued.map(\.stored)
        var retries: [(payload: [UInt8], due: Int64)] = []
        if events.isEmpty {  // nothing to store (all throttled or undecodable): MongoDB plays no part
            await acknowledgeOrRelease(worker: worker, shard: shard, release: false, deadLetters: deadLetters)
            return true
        }
        var schedule = BackoffSchedule(backoff)
        while true {
            if breaker.isOpen {
                // MongoDB keeps failing: probe with a ping at backoff intervals, not with the batch.
                do {
                    guard let pinged = await unlessShutdown({ [store] () async throws(MongoError) in try await store.ping() }) else {
                        logger.warning("shutting down while MongoDB is away; handing the batch back to the queue", metadata: ["worker": "\(worker)"])
                        await acknowledgeOrRelease(worker: worker, shard: shard, release: true, deadLetters: [])
                        return true
                    }
                    try pinged.get()
                    if breaker.recordSuccess() {
                        WorkerMetrics.breaker(open: false)
                        logger.notice("MongoDB answers again; circuit breaker closed, claiming resumes", metadata: ["worker": "\(worker)"])
                    }
                } catch {
                    if await pause(schedule.next()) {
                        logger.warning("shutting down while MongoDB is away; handing the batch back to the queue", metadata: ["worker": "\(worker)"])
                        await acknowledgeOrRelease(worker: worker, shard: shard, release: true, deadLetters: [])
                        return true
                    }
                    continue
                }
            }
            do {
                guard let inserted = await unlessShutdown({ [store] () async throws(MongoError) -> InsertReport in try await store.insert(events) }) else {
                    logger.warning("shutting down with an insert unanswered; handing the batch back to the queue", metadata: ["worker": "\(worker)"])
                    await acknowledgeOrRelease(worker: worker, shard: shard, release: true, deadLetters: [])
                    return true
                }
                let report = try inserted.get()
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
                            payload: item.payload(withAttempts: false), eventID: item.stored.event.eventID, reason: failure.message,
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
                    await acknowledgeOrRelease(worker: worker, shard: shard, release: true, deadLetters: [])
                    return true
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
                if await pause(delay) {
                    logger.warning("shutting down with an unstored batch; handing it back to the queue", metadata: ["worker": "\(worker)"])
                    await acknowledgeOrRelease(worker: worker, shard: shard, release: true, deadLetters: [])
                    return true
                }
            }
        }
        await acknowledgeOrRelease(worker: worker, shard: shard, release: false, deadLetters: deadLetters, retries: retries)
        return true
    }

    /// What the throttle step leaves to store.
    enum ThrottleResult {
        /// Store these (the whole batch when nothing is throttled).
        case store([QueuedEvent])
        /// The batch was recovered by another worker while this one was paused: drop it.
        case fenced
        /// The decision failed (Redis away, an answer lost): the in-memory batch is given up.
        case givenUp
    }

    /// Content throttling of a batch: one `decide` call that also rewrites the processing list
    /// to what must still be stored, marked `"checked":true`.
    ///
    /// On a cluster the throttle's state lives in the home shard's slot (see `QueueKeys`), so
    /// only a batch claimed there is decided. From any other shard, the events to decide are
    /// moved to the home shard's queue (`ReliableQueue.moveToHome`: pushed once, confirmed by
    /// `pushAcks` replicas, then dropped from this processing list) and the rest is stored at
    /// once. On one Redis a batch is decided in whichever shard it was claimed from.
    ///
    /// A failed decision is not retried with the in-memory batch. The worker gives the batch up
    /// and its claim loop, after a backoff, claims again: the claim returns the whole processing
    /// list. If the script ran (only its answer was lost), that list holds the survivors, marked
    /// as decided, so nothing is counted twice; if it did not run, it holds the original batch,
    /// decided afresh. So no cached answer per batch is needed in Redis.
    func throttle(
        _ decoded: (events: [QueuedEvent], undecodable: [(index: Int, reason: String)]), payloads: [[UInt8]], worker: String, shard: QueueShardKeys
    ) async -> ThrottleResult {
        let settings = throttleSettings.withLockedValue { $0 }
        guard settings.isActive else { return .store(decoded.events) }
        var kept = decoded.undecodable.map { payloads[$0.index] }
        var store: [QueuedEvent] = []
        var candidates: [ThrottleCandidate] = []
        var candidateEvents: [QueuedEvent] = []
        for item in decoded.events {
            let event = item.stored.event
            if !item.bypassesThrottle, let rule = settings.rule(siteID: event.siteID, eventType: event.eventType) {
                var decided = item
                decided.bypassesThrottle = true
                candidates.append(ThrottleCandidate(event: event, payload: item.payload(), rule: rule, decidedPayload: decided.payload()))
                candidateEvents.append(item)
            } else {
                kept.append(payloads[item.index])
                store.append(item)
            }
        }
        if candidates.isEmpty { return .store(decoded.events) }
        if shard != queue.keys.home && queue.keys.cluster {
            do {
                try await queue.moveToHome(candidateEvents.map { payloads[$0.index] }, keeping: kept, worker: worker, from: shard)
                WorkerMetrics.store("moved_to_home_shard", count: candidateEvents.count)
                return .store(store)
            } catch {
                if let fenced = fenced(error, worker: worker) { return fenced }
                logger.warning("could not move events to the home shard for throttling; giving the batch up to claim it again", metadata: [
                    "worker": "\(worker)", "shard": "\(shard.index)", "error": "\(error)",
                ])
                return .givenUp
            }
        }
        do {
            let outcomes = try await throttleState.decide(
                worker: worker, in: shard, kept: kept, candidates: candidates, maxKeys: settings.maxKeys, rememberedIDs: settings.rememberedIDs,
                now: clock())
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
            return .store(store)
        } catch {
            if let fenced = fenced(error, worker: worker) { return fenced }
            logger.warning("throttle decision failed; giving the batch up to claim its processing list again", metadata: [
                "worker": "\(worker)", "error": "\(error)",
            ])
            return .givenUp
        }
    }

    /// `.fenced` (logged) when `error` says the batch was recovered by another worker while
    /// this one was paused (`NOTOWNER`); nil for any other error.
    private func fenced(_ error: RedisError, worker: String) -> ThrottleResult? {
        guard case .command(let message) = error, message.hasPrefix("NOTOWNER") else { return nil }
        logger.error("batch recovered by another worker while this one was paused; dropping it", metadata: ["worker": "\(worker)"])
        return .fenced
    }

    /// Acknowledges (or releases) until Redis confirms; a batch whose acknowledgement is lost
    /// is delivered again and stored as duplicates, which are no-ops.
    private func acknowledgeOrRelease(worker: String, shard: QueueShardKeys, release: Bool, deadLetters: [[UInt8]], retries: [(payload: [UInt8], due: Int64)] = []) async {
        var schedule = BackoffSchedule(backoff)
        while true {
            do {
                if release {
                    try await queue.release(worker: worker, in: shard)
                } else if try await !queue.acknowledge(worker: worker, in: shard, deadLetters: deadLetters, retries: retries) {
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
                if isStopping {
                    // At shutdown: a few quick attempts, then give up; leaving the registry moves
                    // the list back to the queue, or (Redis still away) peers recover it after the TTL.
                    if schedule.attempt >= 5 {
                        logger.error("giving up on acknowledging at shutdown; the batch will be stored again as duplicates", metadata: ["worker": "\(worker)"])
                        return
                    }
                    try? await Task.sleep(for: min(delay, .milliseconds(200)))
                } else {
                    _ = await pause(delay)
                }
            }
        }
    }
}
