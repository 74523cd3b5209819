import Testing

@testable import Shared

/// The client replaces a connection Redis closed before writing to it, and never resends.
struct RedisClientTests {
    @Test func aConnectionRedisKilledWhileIdleIsReplacedBeforeTheNextCommand() async throws {
        let servers = try TestServers()
        let client = RedisClient(configuration: servers.configuration.redis, maxConnections: 1, logger: servers.logger)
        let key = servers.configuration.keys.prefix + "killed"
        guard let id = try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int else {
            Issue.record("CLIENT ID answered no integer")
            return
        }
        #expect(try await servers.redis.send(RedisCommand("CLIENT", "KILL", "ID", String(id))).orThrow().int == 1)
        // The killed connection is idle in the pool: the push must go out on a new one, once.
        #expect(try await client.send(RedisCommand("LPUSH", key, "x")).orThrow().int == 1)
        #expect(try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int != id)
        #expect(try await servers.length(key) == 1)
        await client.shutdown()
        await servers.shutdown()
    }
}
