import Foundation
import Logging
import Testing

@testable import Shared

/// Redis Cluster on loopback: the three-master cluster `scripts/test` starts (slot routing,
/// redirects during a slot migration, the queue spread over every master and drained by a
/// worker), and a cluster of the test's own whose master is killed mid-stream.
@Suite(.serialized) struct ClusterTests {
    static let logger = Logger(label: "cluster-test")

    /// A client of the cluster `scripts/test` started.
    static func sharedCluster() throws -> RedisClient {
        guard let nodes = TestServers.clusterNodes else { throw TestSetupError("TEST_REDIS_CLUSTER_NODES is unset: run the tests with scripts/test") }
        var configuration = RedisConfiguration()
        configuration.cluster = nodes
        return RedisClient(configuration: configuration, maxConnections: 4, logger: logger)
    }

    /// One command to the node at `endpoint`, on a client of its own.
    static func ask(_ endpoint: RedisEndpoint, _ command: RedisCommand) async throws -> RedisReply {
        let client = RedisClient(configuration: RedisConfiguration(host: endpoint.host, port: endpoint.port), maxConnections: 1, logger: logger)
        do {
            let reply = try await client.send(command)
            await client.shutdown()
            return reply
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// A node's id (`CLUSTER MYID`).
    static func id(of endpoint: RedisEndpoint) async throws -> String {
        try #require(try await ask(endpoint, RedisCommand("CLUSTER", "MYID")).orThrow().string)
    }

    /// Our slots are the cluster's: every shard's queue is where `CLUSTER KEYSLOT` puts it.
    @Test func slotsAgreeWithTheCluster() async throws {
        let redis = try Self.sharedCluster()
        let keys = QueueKeys(prefix: "slots:", cluster: true, shardCount: 12)
        let node = try #require(TestServers.clusterNodes?.nodes.first)
        for key in keys.shards.map(\.queue) + [keys.throttleStats, keys.visits(bucket: 3), "plain-key"] {
            #expect(try await Self.ask(node, RedisCommand("CLUSTER", "KEYSLOT", key)).int == Int64(RedisSlot.of(key)), "\(key)")
        }
        await redis.shutdown()
    }

    /// A slot moved from one master to another while the client holds the old map: during the
    /// migration the moved key is reached through `ASK`, after it through `MOVED`, and no
    /// command fails either way. The slot is moved back at the end.
    @Test func aSlotMigrationIsFollowedThroughAskAndMoved() async throws {
        let redis = try Self.sharedCluster()
        let tag = UUID().uuidString
        let (key, other) = ("migrate:{\(tag)}", "migrate-other:{\(tag)}")
        let slot = RedisSlot.of(key)
        _ = try await redis.send(RedisCommand("SET", key, "moved")).orThrow()
        let source = try await redis.master(of: key)
        let target = try #require(try await redis.masters().first { $0 != source })
        let (sourceID, targetID) = (try await Self.id(of: source), try await Self.id(of: target))
        func setSlot(_ state: String, _ node: String, on endpoint: RedisEndpoint) async throws {
            _ = try await Self.ask(endpoint, RedisCommand("CLUSTER", "SETSLOT", String(slot), state, node)).orThrow()
        }
        func move(from: RedisEndpoint, fromID: String, to: RedisEndpoint, toID: String, check: () async throws -> Void) async throws {
            try await setSlot("IMPORTING", fromID, on: to)
            try await setSlot("MIGRATING", toID, on: from)
            _ = try await Self.ask(from, RedisCommand("MIGRATE", to.host, String(to.port), "", "0", "5000", "KEYS", key)).orThrow()
            try await check()
            for master in try await redis.masters() { try await setSlot("NODE", toID, on: master) }
        }
        try await move(from: source, fromID: sourceID, to: target, toID: targetID) { () async throws in
            // Migrating: the key has left, so the source answers ASK; a key not moved yet is still served there.
            #expect(try await redis.send(RedisCommand("GET", key)).orThrow().string == "moved")
            #expect(try await redis.send(RedisCommand("SET", other, "x")).orThrow().string == "OK")
        }
        // Moved: the old owner answers MOVED, the client learns the new one.
        #expect(try await redis.send(RedisCommand("GET", key)).orThrow().string == "moved")
        try await eventually("the client's map names the new owner", timeout: .seconds(10)) { try await redis.master(of: key) == target }
        _ = try await redis.send(RedisCommand("DEL", key)).orThrow()
        _ = try await redis.send(RedisCommand("DEL", other)).orThrow()
        try await move(from: target, fromID: targetID, to: source, toID: sourceID) {}
        await redis.shutdown()
    }

    /// Ingest spreads over every shard and so over every master; a worker claims from all of
    /// them, and every event is stored once.
    @Test func theQueueSpreadsOverEveryMasterAndIsDrained() async throws {
        guard TestServers.clusterNodes != nil else { throw TestSetupError("TEST_REDIS_CLUSTER_NODES is unset: run the tests with scripts/test") }
        let base = try TestServers(mongo: .shared)
        var configuration = base.configuration
        configuration.redis = RedisConfiguration()
        configuration.redis.cluster = TestServers.clusterNodes
        let redis = RedisClient(configuration: configuration.redis, maxConnections: 4, logger: base.logger)
        let keys = try await ReliableQueue.agreeOnShards(
            redis: redis, keys: QueueKeys(prefix: configuration.keys.prefix, cluster: true), configured: nil)
        #expect(keys.shards.count == 12, "4 shards per master by default")
        configuration.keys = keys
        let servers = TestServers(configuration: configuration, redis: redis, store: base.store, logger: base.logger)
        let sent = 600
        for chunk in 0..<(sent / 20) {
            try await servers.queue.enqueue((0..<20).map { payload(site: "cluster", id: "c\(chunk)-\($0)") })
        }
        var perMaster: [RedisEndpoint: Int] = [:]
        for shard in keys.shards {
            let depth = Int(try await redis.send(RedisCommand("LLEN", shard.queue)).orThrow().int ?? 0)
            perMaster[try await redis.master(of: shard.queue), default: 0] += depth
        }
        let masters = try await redis.masters()
        #expect(masters.count == 3)
        for master in masters { #expect((perMaster[master] ?? 0) > sent / 10, "master \(master) holds \(perMaster[master] ?? 0) of \(sent)") }
        #expect(try await servers.queue.depth() == sent)
        try await servers.withWorker {
            try await eventually("every event is stored", timeout: .seconds(60)) { try await servers.count() == sent }
        }
        #expect(try await servers.queue.depth() == 0)
        #expect(Set(try await servers.documents().compactMap { $0["event_id"] as? String }).count == sent)
        await redis.shutdown()
        await base.shutdown()
    }
}
