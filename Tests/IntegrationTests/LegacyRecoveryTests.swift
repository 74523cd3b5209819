import Testing

@testable import Shared

/// After an upgrade, `Worker recover --legacy` returns the batches of dead old-version workers
/// and leaves every live worker's batch alone.
struct LegacyRecoveryTests {
    @Test func onlyListsOfDeadUnregisteredWorkersAreMovedBack() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            for worker in ["dead-old", "live-old", "live-new"] {
                _ = try await servers.redis.send(RedisCommand("RPUSH", [keys.processing(worker)], values: [payload(site: worker)])).orThrow()
            }
            _ = try await servers.redis.send(RedisCommand("SET", keys.heartbeat("live-old"), "1", "PX", "60000")).orThrow()
            try await servers.queue.heartbeat(workers: ["live-new"], ttl: .seconds(60))

            let result = try await servers.queue.recoverLegacyLists()
            #expect(result.lists == 1 && result.events == 1 && result.alive == 2)
            #expect(try await servers.length(keys.queue) == 1)
            #expect(try await servers.length(keys.processing("dead-old")) == 0)
            #expect(try await servers.length(keys.processing("live-old")) == 1)
            #expect(try await servers.length(keys.processing("live-new")) == 1)
        }
    }
}
