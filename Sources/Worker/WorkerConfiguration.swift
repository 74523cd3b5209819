import Shared

/// Worker settings: the shared ones plus batching, concurrency and retry timing.
struct WorkerConfiguration: Sendable {
    /// Shared settings (Redis, MongoDB, keys, log level).
    var pipeline: PipelineConfiguration
    /// Most events claimed and stored at once.
    var batchSize = 500
    /// Claim loops in this process, each with its own worker id and processing list.
    var concurrency = 1
    /// First retry's ceiling for a failed store.
    var retryBase: Duration = .milliseconds(100)
    /// Longest wait between retries.
    var retryCap: Duration = .seconds(30)
    /// `full-jitter` (default) or `decorrelated-jitter`.
    var retryStrategy = "full-jitter"
    /// Store attempts of one event refused for an unknown reason before it is dead-lettered.
    var eventMaxAttempts = 5
    /// Consecutive transient store failures that open the circuit breaker (claiming pauses).
    var breakerThreshold = 5
    /// How long a heartbeat lives without being refreshed.
    var heartbeatTTL: Duration = .seconds(10)
    /// How often heartbeats are refreshed.
    var heartbeatInterval: Duration = .milliseconds(2500)
    /// How often abandoned processing lists are looked for.
    var recoveryInterval: Duration = .seconds(5)
    /// How long a claim waits on an empty queue before looking again (bounds shutdown time).
    var claimWait: Duration = .seconds(1)
    /// Throttle rule for streams without one of their own; nil: off unless set at runtime.
    var throttleDefault: ThrottleRule?
    /// Most tracked throttle counters (0: no cap).
    var throttleMaxKeys = 0
    /// How long an event id is remembered per throttled stream (a second copy is dropped).
    var throttleDedupWindow: Duration = .seconds(600)
    /// How often runtime throttle rules are re-read and due summaries queued.
    var throttlePollInterval: Duration = .milliseconds(500)
    /// Where to serve `/metrics` (Prometheus) for this process; nil: not served.
    var metricsPort: Int?

    /// Defaults around an explicit pipeline configuration (tests use this).
    init(pipeline: PipelineConfiguration) {
        self.pipeline = pipeline
    }

    /// Reads `WORKER_BATCH_SIZE`, `WORKER_CONCURRENCY`, `RETRY_BASE_MS`, `RETRY_CAP_MS`,
    /// `RETRY_STRATEGY`, `RETRY_MAX_ATTEMPTS`, `BREAKER_THRESHOLD`, `HEARTBEAT_TTL_MS`, `THROTTLE_*`, `WORKER_METRICS_PORT` and the shared variables.
    init(environment: Environment) throws {
        self.init(pipeline: try PipelineConfiguration(environment: environment))
        batchSize = try environment.int("WORKER_BATCH_SIZE", default: batchSize)
        concurrency = try environment.int("WORKER_CONCURRENCY", default: concurrency)
        retryBase = try environment.milliseconds("RETRY_BASE_MS", default: 100)
        retryCap = try environment.milliseconds("RETRY_CAP_MS", default: 30_000)
        retryStrategy = environment["RETRY_STRATEGY"] ?? retryStrategy
        breakerThreshold = try environment.int("BREAKER_THRESHOLD", default: breakerThreshold)
        eventMaxAttempts = try environment.int("RETRY_MAX_ATTEMPTS", default: eventMaxAttempts)
        heartbeatTTL = try environment.milliseconds("HEARTBEAT_TTL_MS", default: 10_000)
        heartbeatInterval = heartbeatTTL / 4
        recoveryInterval = heartbeatTTL / 2
        throttleDefault = try ThrottleRule.fromEnvironment(environment)
        throttleMaxKeys = try environment.int("THROTTLE_MAX_KEYS", default: 0)
        throttleDedupWindow = try environment.milliseconds("THROTTLE_DEDUP_MS", default: 600_000)
        throttlePollInterval = try environment.milliseconds("THROTTLE_POLL_MS", default: 500)
        if environment["WORKER_METRICS_PORT"] != nil { metricsPort = try environment.int("WORKER_METRICS_PORT", default: 0) }
    }

    /// Checks ranges; the message says which setting to fix.
    func validated() throws -> WorkerConfiguration {
        guard (1...10_000).contains(batchSize) else {
            throw ConfigurationError.invalid(key: "WORKER_BATCH_SIZE", value: String(batchSize), expected: "from 1 to 10000")
        }
        guard ["full-jitter", "decorrelated-jitter"].contains(retryStrategy) else {
            throw ConfigurationError.invalid(key: "RETRY_STRATEGY", value: retryStrategy, expected: "full-jitter or decorrelated-jitter")
        }
        guard breakerThreshold >= 1 else {
            throw ConfigurationError.invalid(key: "BREAKER_THRESHOLD", value: String(breakerThreshold), expected: "at least 1")
        }
        guard (1...64).contains(concurrency) else {
            throw ConfigurationError.invalid(key: "WORKER_CONCURRENCY", value: String(concurrency), expected: "from 1 to 64")
        }
        return self
    }
}

extension WorkerConfiguration {
    /// The backoff strategy `retryStrategy` names, between `retryBase` and `retryCap`.
    var backoff: any BackoffStrategy {
        retryStrategy == "decorrelated-jitter"
            ? DecorrelatedJitterBackoff.decorrelatedJitter(base: retryBase, cap: retryCap)
            : FullJitterBackoff.fullJitter(base: retryBase, cap: retryCap)
    }
}
