import Logging
import Shared

extension EventWorker {
    /// Every poll interval: re-reads the runtime throttle rules, requeues events due for another
    /// store attempt, and queues due throttle summaries, until cancelled.
    func throttleLoop() async {
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
            await flushDueSummaries()
        }
    }

    /// Queues every due summary, in calls of 100, at most 5,000 per poll (a deferral record
    /// lives `Throttle.recordMargin` past its due time, so a backlog is worked off in time).
    func flushDueSummaries() async {
        var total = 0
        do {
            while total < 5_000, !Task.isCancelled {
                let flushed = try await throttleState.flushDue(now: clock(), max: 100)
                total += flushed.queued
                if flushed.lost > 0 {
                    logger.error("deferral records expired before their summary was queued; their counts are lost (throttle:stats summary_lost)", metadata: [
                        "records": "\(flushed.lost)",
                    ])
                }
                if flushed.queued + flushed.lost < 100 { break }
            }
        } catch {
            logger.warning("could not queue due throttle summaries", metadata: ["error": "\(error)"])
        }
        if total > 0 {
            WorkerMetrics.summariesQueued(total)
            logger.debug("queued throttle summaries", metadata: ["summaries": "\(total)"])
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
}
