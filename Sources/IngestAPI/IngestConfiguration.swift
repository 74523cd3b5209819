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

    /// Reads `HOST`, `PORT`, `REDIS_CONNECTIONS`, `MONGO_CLIENTS` and the shared variables.
    init(environment: Environment) throws {
        pipeline = try PipelineConfiguration(environment: environment)
        host = environment["HOST"] ?? "127.0.0.1"
        port = try environment.int("PORT", default: 3000)
        redisConnections = try environment.int("REDIS_CONNECTIONS", default: 4)
        mongoClients = try environment.int("MONGO_CLIENTS", default: 4)
    }
}
