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
    /// Proxies in front of the API whose `X-Forwarded-For` entries are believed (`TRUST_PROXY`):
    /// 0 uses the socket peer; n takes the n-th address from the right of the header.
    var trustedProxies: Int

    /// Reads `HOST`, `PORT`, `REDIS_CONNECTIONS`, `MONGO_CLIENTS`, `QUEUE_MAX`, `RATE_LIMIT_*`, `TRUST_PROXY`
    /// and the shared variables.
    init(environment: Environment) throws {
        pipeline = try PipelineConfiguration(environment: environment)
        host = environment["HOST"] ?? "127.0.0.1"
        port = try environment.int("PORT", default: 3000)
        redisConnections = try environment.int("REDIS_CONNECTIONS", default: 4)
        mongoClients = try environment.int("MONGO_CLIENTS", default: 4)
        rateLimits = try RateLimits(environment: environment)
        queueMax = try environment.int("QUEUE_MAX", default: 1_000_000)
        switch environment["TRUST_PROXY"]?.lowercased() {
        case nil, "", "0", "false", "no", "off": trustedProxies = 0
        case "true", "yes", "on": trustedProxies = 1
        default: trustedProxies = try environment.int("TRUST_PROXY", default: 0)
        }
    }
}
