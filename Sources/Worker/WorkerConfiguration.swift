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
    /// Most tracked throttle counters and deferral records.
    var throttleMaxKeys = ThrottleSettings.defaultMaxKeys
    /// Event ids each deferral record remembers (a client retry of one of them is dropped).
    var throttleRememberedIDs = ThrottleSettings.defaultRememberedIDs
    /// Replicas that must confirm an event moved to another shard (`REDIS_ACK_REPLICAS`,
    /// `REDIS_ACK_TIMEOUT_MS`, as for ingest): the move deletes it where it was.
    var pushAcks: ReplicaAcks?
    /// How often runtime throttle rules are re-read and due summaries queued.
    var throttlePollInterval: Duration = .milliseconds(500)
    /// Where to serve `/metrics` (Prometheus) for this process; nil: not served.
    var metricsPort: Int?
    /// Address the metrics server binds (`WORKER_METRICS_HOST`, default loopback).
    var metricsHost = "127.0.0.1"
    /// Bearer token for `/metrics` (`METRICS_TOKEN`); unset: loopback clients only.
    var metricsToken: String?
    /// Where countries come from: `GEOIP_DB` (a MaxMind `.mmdb`), else Debian's `geoip-database`.
    var countrySource: CountryDatabase.Source = CountryDatabase.debianDefault
    /// Most visits tracked per 30-minute bucket (`VISITS_MAX_PER_BUCKET`), all sites together.
    var visitsMaxPerBucket = 500_000
    /// Most visits one site starts per 30-minute bucket (`VISITS_MAX_PER_SITE`).
    var visitsMaxPerSite = 100_000

    /// Defaults around an explicit pipeline configuration (tests use this).
    init(pipeline: PipelineConfiguration) {
        self.pipeline = pipeline
    }

    /// Reads `WORKER_BATCH_SIZE`, `WORKER_CONCURRENCY`, `RETRY_BASE_MS`, `RETRY_CAP_MS`,
    /// `RETRY_STRATEGY`, `RETRY_MAX_ATTEMPTS`, `BREAKER_THRESHOLD`, `HEARTBEAT_TTL_MS`, `THROTTLE_*`,
    /// `WORKER_METRICS_PORT`, `GEOIP_DB`, `VISITS_MAX_PER_BUCKET`, `VISITS_MAX_PER_SITE` and the shared variables; every number is range-checked and an
    /// error names the variable.
    init(environment: Environment) throws {
        self.init(pipeline: try PipelineConfiguration(environment: environment))
        batchSize = try environment.int("WORKER_BATCH_SIZE", default: batchSize, in: Self.batchSizes)
        concurrency = try environment.int("WORKER_CONCURRENCY", default: concurrency, in: Self.concurrencies)
        retryBase = try environment.milliseconds("RETRY_BASE_MS", default: 100, in: 1...60_000)
        retryCap = try environment.milliseconds("RETRY_CAP_MS", default: 30_000, in: 1...3_600_000)
        guard retryBase <= retryCap else {
            throw ConfigurationError.invalid(
                key: "RETRY_BASE_MS", value: String(retryBase.totalMilliseconds), expected: "at most RETRY_CAP_MS (\(retryCap.totalMilliseconds))")
        }
        retryStrategy = environment["RETRY_STRATEGY"] ?? retryStrategy
        breakerThreshold = try environment.int("BREAKER_THRESHOLD", default: breakerThreshold, in: 1...1_000)
        eventMaxAttempts = try environment.int("RETRY_MAX_ATTEMPTS", default: eventMaxAttempts, in: 1...100)
        heartbeatTTL = try environment.milliseconds("HEARTBEAT_TTL_MS", default: 10_000, in: 500...600_000)
        heartbeatInterval = heartbeatTTL / 4
        recoveryInterval = heartbeatTTL / 2
        throttleDefault = try ThrottleRule.fromEnvironment(environment)
        throttleMaxKeys = try environment.int("THROTTLE_MAX_KEYS", default: throttleMaxKeys, in: 1...100_000_000)
        throttleRememberedIDs = try environment.int("THROTTLE_DEDUP_IDS", default: throttleRememberedIDs, in: 0...1_000)
        pushAcks = try ReplicaAcks(environment: environment)
        throttlePollInterval = try environment.milliseconds("THROTTLE_POLL_MS", default: 500, in: 10...60_000)
        if let path = environment["GEOIP_DB"], !path.isEmpty { countrySource = .maxMind(path: path) }
        visitsMaxPerBucket = try environment.int("VISITS_MAX_PER_BUCKET", default: visitsMaxPerBucket, in: 1...100_000_000)
        visitsMaxPerSite = try environment.int("VISITS_MAX_PER_SITE", default: visitsMaxPerSite, in: 1...100_000_000)
        metricsHost = environment["WORKER_METRICS_HOST"] ?? metricsHost
        metricsToken = environment["METRICS_TOKEN"]
        if environment["WORKER_METRICS_PORT"] != nil { metricsPort = try environment.int("WORKER_METRICS_PORT", default: 0, in: 1...65_535) }
    }

    /// Accepted `WORKER_BATCH_SIZE` / `--batch-size`.
    static let batchSizes = 1...10_000
    /// Accepted `WORKER_CONCURRENCY` / `--concurrency`.
    static let concurrencies = 1...64

    /// Checks ranges of what the command line may override; the message says which setting to fix.
    func validated() throws -> WorkerConfiguration {
        guard Self.batchSizes.contains(batchSize) else {
            throw ConfigurationError.invalid(key: "WORKER_BATCH_SIZE", value: String(batchSize), expected: "from 1 to 10000")
        }
        guard ["full-jitter", "decorrelated-jitter"].contains(retryStrategy) else {
            throw ConfigurationError.invalid(key: "RETRY_STRATEGY", value: retryStrategy, expected: "full-jitter or decorrelated-jitter")
        }
        guard breakerThreshold >= 1 else {
            throw ConfigurationError.invalid(key: "BREAKER_THRESHOLD", value: String(breakerThreshold), expected: "at least 1")
        }
        guard Self.concurrencies.contains(concurrency) else {
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
