import Shared

/// IngestAPI's settings: the shared ones plus where to listen.
struct IngestConfiguration: Sendable {
    /// Shared settings (Redis, MongoDB, keys, log level).
    var pipeline: PipelineConfiguration
    /// Address to bind.
    var host: String
    /// Port to bind (default 3000).
    var port: Int
    /// Redis connections, and so LPUSHes in flight at once.
    var redisConnections: Int
    /// MongoDB clients for `/stats` and `/healthz`.
    var mongoClients: Int
    /// Default rate limits (`RATE_LIMIT_SITE`, `RATE_LIMIT_USER`, `RATE_LIMIT_ADDRESS`); per-site
    /// overrides come from Redis (`Worker limits set`).
    var rateLimits: RateLimits
    /// The queue's high-water mark (`QUEUE_MAX`, 0: none): at or above it ingest answers 503.
    var queueMax: Int
    /// Replicas that must confirm a push before `202` (`REDIS_ACK_REPLICAS`, 0: none, and
    /// `REDIS_ACK_TIMEOUT_MS`, default 1000); unconfirmed in time, ingest answers 503 `OUTCOME_UNKNOWN`.
    var pushAcks: ReplicaAcks?
    /// Proxies in front of the API whose `X-Forwarded-For` entries are believed (`TRUST_PROXY`):
    /// 0 uses the socket peer; n takes the n-th address from the right of the header.
    var trustedProxies: Int

    /// Longest an idle keep-alive connection (or a request head still arriving) is kept open.
    var httpIdleTimeout: Duration = .seconds(30)
    /// Longest from a request's head to its last body byte; a slower client is disconnected.
    var httpReadTimeout: Duration = .seconds(10)
    /// Most open client connections; past it new ones wait in the kernel's accept queue.
    var httpMaxConnections = 2048
    /// Most open connections from one client address, IPv6 by /64 (`HTTP_MAX_CONNECTIONS_PER_ADDRESS`;
    /// 0: no such cap, the default behind a proxy, where every connection comes from the proxy).
    var httpMaxConnectionsPerAddress = 256
    /// Most payload bytes waiting for a group commit (`INGEST_MAX_WAITING_BYTES`); past it: 503 at once.
    var maxWaitingBytes = 64 << 20
    /// Most rate-limit keys tracked in Redis (`RATE_LIMIT_MAX_KEYS`).
    var maxRateLimitKeys = ReliableQueue.defaultMaxRateLimitKeys
    /// `/stats` queries waiting for a turn (`STATS_MAX_WAITING`); past it: 503 at once.
    var statsMaxWaiting = 32
    /// Longest a `/stats` query or health check waits for a turn (`STATS_MAX_WAIT_MS`).
    var statsMaxWait: Duration = .seconds(2)
    /// Longest a `/stats` aggregation may run in MongoDB (`STATS_MAX_TIME_MS`, sent as `maxTimeMS`).
    var statsMaxTime: Duration = .seconds(10)
    /// Bearer token for `/metrics` (`METRICS_TOKEN`); unset: loopback clients only.
    var metricsToken: String?
    /// Seed 004's `/stats` needs an API key (`STATS_REQUIRE_KEY`, default false; recommended in production).
    var statsRequireKey = false
    /// Reads per API key and window (`STATS_KEY_RATE_LIMIT`, default 600; 0: no limit).
    var statsKeyRateLimit = KeyRateLimit.defaultLimit
    /// The key rate window (`STATS_KEY_RATE_WINDOW`, e.g. `1h`, the default).
    var statsKeyRateWindow = KeyRateLimit.defaultWindow
    /// How long a site or key lookup is remembered (`STATS_ACCESS_CACHE_MS`, default 5000; 0: not at all).
    var statsAccessCacheTTL: Duration = .seconds(5)

    /// Reads `HOST`, `PORT`, `REDIS_CONNECTIONS`, `REDIS_ACK_*`, `MONGO_CLIENTS`, `QUEUE_MAX`, `RATE_LIMIT_*`,
    /// `TRUST_PROXY`, `HTTP_*`, `INGEST_MAX_WAITING_BYTES`, `RATE_LIMIT_MAX_KEYS`, `STATS_*`, `METRICS_TOKEN` and the shared
    /// variables; every number is checked against its range, and an error names the variable.
    init(environment: Environment) throws {
        pipeline = try PipelineConfiguration(environment: environment)
        host = environment["HOST"] ?? "127.0.0.1"
        port = try environment.int("PORT", default: 3000, in: 1...65_535)
        redisConnections = try environment.int("REDIS_CONNECTIONS", default: 4, in: 1...256)
        mongoClients = try environment.int("MONGO_CLIENTS", default: 4, in: 2...256)  // one stays free of /stats for health
        rateLimits = try RateLimits(environment: environment)
        queueMax = try environment.int("QUEUE_MAX", default: 1_000_000, in: 0...1_000_000_000)
        pushAcks = try ReplicaAcks(environment: environment)
        switch environment["TRUST_PROXY"]?.lowercased() {
        case nil, "", "0", "false", "no", "off": trustedProxies = 0
        case "true", "yes", "on": trustedProxies = 1
        default: trustedProxies = try environment.int("TRUST_PROXY", default: 0, in: 0...ClientAddress.maxForwardedHops)
        }
        httpIdleTimeout = try environment.milliseconds("HTTP_IDLE_TIMEOUT_MS", default: 30_000, in: 100...3_600_000)
        httpReadTimeout = try environment.milliseconds("HTTP_READ_TIMEOUT_MS", default: 10_000, in: 100...600_000)
        httpMaxConnections = try environment.int("HTTP_MAX_CONNECTIONS", default: 2048, in: 1...1_000_000)
        httpMaxConnectionsPerAddress = try environment.int(
            "HTTP_MAX_CONNECTIONS_PER_ADDRESS", default: trustedProxies > 0 ? 0 : 256, in: 0...1_000_000)
        maxWaitingBytes = try environment.int(
            "INGEST_MAX_WAITING_BYTES", default: 64 << 20, in: EventValidator.maxBatchBytes...(16 << 30))
        maxRateLimitKeys = try environment.int("RATE_LIMIT_MAX_KEYS", default: ReliableQueue.defaultMaxRateLimitKeys, in: 1...100_000_000)
        statsMaxWaiting = try environment.int("STATS_MAX_WAITING", default: 32, in: 0...10_000)
        statsMaxWait = try environment.milliseconds("STATS_MAX_WAIT_MS", default: 2000, in: 1...60_000)
        statsMaxTime = try environment.milliseconds("STATS_MAX_TIME_MS", default: 10_000, in: 1...600_000)
        metricsToken = environment["METRICS_TOKEN"]
        statsRequireKey = try environment.bool("STATS_REQUIRE_KEY", default: false)
        statsKeyRateLimit = try environment.int("STATS_KEY_RATE_LIMIT", default: KeyRateLimit.defaultLimit, in: 0...1_000_000_000)
        statsKeyRateWindow = try environment.duration("STATS_KEY_RATE_WINDOW", default: KeyRateLimit.defaultWindow)
        statsAccessCacheTTL = try environment.milliseconds("STATS_ACCESS_CACHE_MS", default: 5000, in: 0...60_000)
    }
}
