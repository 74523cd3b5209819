import Testing

@testable import Shared

/// Settings from the environment, `.env` and `REDIS_URL`; key names under the prefix.
struct ConfigurationTests {
    @Test func redisURLGivesHostPortDatabaseAndPassword() throws {
        let config = try RedisConfiguration(url: "redis://:s3cret@cache.local:6380/2")
        #expect(config.host == "cache.local")
        #expect(config.port == 6380)
        #expect(config.database == 2)
        #expect(config.password == "s3cret")
        #expect(!config.displayName.contains("s3cret"))
    }

    @Test func redisURLDefaults() throws {
        let config = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(config.port == 6379)
        #expect(config.database == 0)
        #expect(config.password == nil)
    }

    @Test func badRedisURLNamesTheVariableWithoutThePassword() {
        #expect(throws: ConfigurationError.self) { try RedisConfiguration(url: "http://x") }
        do {
            _ = try RedisConfiguration(url: "redis://:hunter2@h/notanumber")
            Issue.record("accepted a malformed database")
        } catch {
            #expect(error.description.contains("REDIS_URL"))
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func dotEnvParsing() {
        let values = Environment.parseDotEnv("""
            # comment
            export PORT=4000
            REDIS_URL="redis://h:1/0"
            EMPTY=
            """)
        #expect(values == ["PORT": "4000", "REDIS_URL": "redis://h:1/0", "EMPTY": ""])
    }

    @Test func pipelineConfigurationReadsTheEnvironment() throws {
        let config = try PipelineConfiguration(environment: Environment([
            "REDIS_URL": "redis://r:7000/1", "MONGO_URI": "mongodb://m/x", "QUEUE_PREFIX": "p:", "LOG_LEVEL": "debug",
        ]))
        #expect(config.redis.port == 7000)
        #expect(config.mongoURI == "mongodb://m/x")
        #expect(config.keys.queue == "p:queue")
        #expect(config.logLevel == .debug)
        #expect(throws: ConfigurationError.self) { try PipelineConfiguration(environment: Environment(["LOG_LEVEL": "loud"])) }
        #expect(throws: ConfigurationError.self) { try PipelineConfiguration(environment: Environment(["REDIS_CONNECT_TIMEOUT_MS": "soon"])) }
    }

    @Test func sentinelsAreReadWithTheirMasterNameAndRefusedWithout() throws {
        let config = try PipelineConfiguration(environment: Environment([
            "REDIS_URL": "redis://:secret@ignored:1/2", "REDIS_SENTINELS": "10.0.0.1:26379, [::1]:26380,s3.example:26381",
            "REDIS_SENTINEL_MASTER": "mymaster", "REDIS_SENTINEL_PASSWORD": "sentinel-secret",
        ]))
        let sentinel = try #require(config.redis.sentinel)
        #expect(sentinel.sentinels == [
            RedisEndpoint(host: "10.0.0.1", port: 26379), RedisEndpoint(host: "::1", port: 26380), RedisEndpoint(host: "s3.example", port: 26381),
        ])
        #expect(sentinel.masterName == "mymaster" && sentinel.password == "sentinel-secret")
        // The master's password and database still come from REDIS_URL; its host does not.
        #expect(config.redis.password == "secret" && config.redis.database == 2)
        #expect(config.redis.displayName == "sentinel master mymaster/2")
        #expect(try PipelineConfiguration(environment: Environment([:])).redis.sentinel == nil)
        for bad: [String: String] in [
            ["REDIS_SENTINELS": "10.0.0.1:26379"],  // no master name
            ["REDIS_SENTINELS": "10.0.0.1", "REDIS_SENTINEL_MASTER": "m"],  // no port
            ["REDIS_SENTINELS": "10.0.0.1:0", "REDIS_SENTINEL_MASTER": "m"],
            ["REDIS_SENTINELS": "a:1,,b:2", "REDIS_SENTINEL_MASTER": "m"],
            ["REDIS_SENTINELS": "a:1", "REDIS_SENTINEL_MASTER": "two words"],
            ["REDIS_SENTINELS": "fe80::1", "REDIS_SENTINEL_MASTER": "m"],  // IPv6 needs brackets
            ["REDIS_SENTINELS": "[::1:26379", "REDIS_SENTINEL_MASTER": "m"],
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try PipelineConfiguration(environment: Environment(bad)) }
        }
    }

    @Test func keyNamesFollowTheDesign() {
        let keys = QueueKeys()
        #expect(keys.queue == "et:queue")
        #expect(keys.dead == "et:dead")
        #expect(keys.processing("w1") == "et:processing:w1")
        #expect(keys.heartbeat("w1") == "et:worker:w1")
        #expect(keys.processingPattern == "et:processing:*")
        #expect(keys.workers == "et:workers")
        #expect(keys.throttleIndex == "et:throttle:keys")
        #expect(keys.throttleDeferred(stream: "s:page_view", identity: "ab", day: 20_000) == "et:throttle:deferred:s:page_view:ab:20000")
        #expect(keys.workerID(fromProcessingKey: "et:processing:host-1-ab-0") == "host-1-ab-0")
        #expect(keys.workerID(fromProcessingKey: "et:queue") == nil)
    }
}
