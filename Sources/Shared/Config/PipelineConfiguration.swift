import Logging

/// Settings shared by IngestAPI and Worker, read from the environment.
public struct PipelineConfiguration: Sendable {
    /// Where Redis is.
    public var redis: RedisConfiguration
    /// The MongoDB connection string; its path names the database (default `events`).
    public var mongoURI: String
    /// Key names in Redis.
    public var keys: QueueKeys
    /// The log level for both executables.
    public var logLevel: Logger.Level
    /// `QUEUE_SHARDS`: how many lists the queue is split into; nil: as recorded in Redis, else 1
    /// on one Redis and 4 per master on a cluster (`ReliableQueue.agreeOnShards`).
    public var queueShards: Int?

    /// The defaults point at the servers `scripts/run` starts.
    public init(
        redis: RedisConfiguration = RedisConfiguration(),
        mongoURI: String = "mongodb://127.0.0.1:27017/events",
        keys: QueueKeys = QueueKeys(),
        logLevel: Logger.Level = .info
    ) {
        self.redis = redis
        self.mongoURI = mongoURI
        self.keys = keys
        self.logLevel = logLevel
    }

    /// Reads `REDIS_URL` (and `REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`, `REDIS_SENTINEL_PASSWORD`, or `REDIS_CLUSTER_NODES`),
    /// `MONGO_URI`, `QUEUE_PREFIX`, `QUEUE_SHARDS` and `LOG_LEVEL`.
    public init(environment: Environment) throws {
        self.init()
        if let url = environment["REDIS_URL"] {
            self.redis = try RedisConfiguration(url: url)
        }
        redis.connectTimeout = try environment.milliseconds("REDIS_CONNECT_TIMEOUT_MS", default: 1000, in: 10...60_000)
        redis.readTimeout = try environment.milliseconds("REDIS_READ_TIMEOUT_MS", default: 5000, in: 10...600_000)
        redis.sentinel = try RedisSentinelConfiguration(environment: environment)
        redis.cluster = try RedisClusterConfiguration(environment: environment)
        if redis.cluster != nil {
            guard redis.sentinel == nil else {
                throw ConfigurationError.invalid(key: "REDIS_CLUSTER_NODES", value: environment["REDIS_CLUSTER_NODES"] ?? "", expected: "either REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both")
            }
            guard redis.database == 0 else {
                throw ConfigurationError.invalid(key: "REDIS_URL", value: RedisConfiguration.redacted(environment["REDIS_URL"] ?? ""), expected: "database 0: Redis Cluster has no other (REDIS_URL then only gives the password)")
            }
        }
        if let uri = environment["MONGO_URI"] { self.mongoURI = uri }
        if let prefix = environment["QUEUE_PREFIX"] {
            guard prefix.utf8.count <= 64, !prefix.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) else {
                throw ConfigurationError.invalid(key: "QUEUE_PREFIX", value: prefix, expected: "at most 64 bytes, no spaces, control characters or braces (they would be read as a hash tag)")
            }
        }
        self.keys = QueueKeys(prefix: environment["QUEUE_PREFIX"] ?? keys.prefix, cluster: redis.cluster != nil)
        if environment["QUEUE_SHARDS"] != nil {
            queueShards = try environment.int("QUEUE_SHARDS", default: 1, in: 1...QueueKeys.maxShards)
        }
        if let level = environment["LOG_LEVEL"] {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError.invalid(key: "LOG_LEVEL", value: level, expected: "trace|debug|info|notice|warning|error|critical")
            }
            self.logLevel = parsed
        }
    }
}
