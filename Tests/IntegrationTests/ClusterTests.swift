import Foundation
import Logging
import NIOConcurrencyHelpers
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
        try await IntegrationTests.ask(endpoint, command, logger: logger)
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
        do {
            try await move(from: source, fromID: sourceID, to: target, toID: targetID) { () async throws in
                // Migrating: the key has left, so the source answers ASK (and so it does for a key it does not hold).
                #expect(try await redis.send(RedisCommand("GET", key)).orThrow().string == "moved")
                #expect(try await redis.send(RedisCommand("SET", other, "x")).orThrow().string == "OK")
            }
        } catch {
            // Leave the shared cluster as it was: the slot back with its owner, nothing migrating.
            for master in try await redis.masters() {
                _ = try? await Self.ask(master, RedisCommand("CLUSTER", "SETSLOT", String(slot), "STABLE"))
                _ = try? await Self.ask(master, RedisCommand("CLUSTER", "SETSLOT", String(slot), "NODE", sourceID))
            }
            throw error
        }
        // Moved: the old owner answers MOVED, the client learns the new one.
        #expect(try await redis.send(RedisCommand("GET", key)).orThrow().string == "moved")
        try await eventually("the client's map names the new owner", timeout: .seconds(10)) { try await redis.master(of: key) == target }
        _ = try await redis.send(RedisCommand("DEL", key)).orThrow()
        _ = try await redis.send(RedisCommand("DEL", other)).orThrow()
        try await move(from: target, fromID: targetID, to: source, toID: sourceID) {}
        await redis.shutdown()
    }

    /// Runs `body` with servers whose queue is on the shared cluster in the default number of
    /// shards (4 per master, agreed as a pipeline's processes agree on it), in a fresh namespace.
    static func withShardedQueue(_ body: (TestServers) async throws -> Void) async throws {
        guard TestServers.clusterNodes != nil else { throw TestSetupError("TEST_REDIS_CLUSTER_NODES is unset: run the tests with scripts/test") }
        let base = try TestServers(mongo: .shared)
        var configuration = base.configuration
        configuration.redis = RedisConfiguration()
        configuration.redis.cluster = TestServers.clusterNodes
        let redis = RedisClient(configuration: configuration.redis, maxConnections: 4, logger: base.logger)
        do {
            configuration.keys = try await ReliableQueue.agreeOnShards(
                redis: redis, keys: QueueKeys(prefix: configuration.keys.prefix, cluster: true), configured: nil)
            try await body(TestServers(configuration: configuration, redis: redis, store: base.store, logger: base.logger))
        } catch {
            await redis.shutdown()
            await base.shutdown()
            throw error
        }
        await redis.shutdown()
        await base.shutdown()
    }

    /// Ingest spreads over every shard and so over every master; a worker claims from all of
    /// them, and every event is stored once.
    @Test func theQueueSpreadsOverEveryMasterAndIsDrained() async throws {
        try await Self.withShardedQueue { servers in
            let keys = servers.configuration.keys
            let redis = servers.redis
            #expect(keys.shards.count == 12, "4 shards per master by default")
            let sent = 600
            for chunk in 0..<(sent / 20) {
                try await servers.queue.enqueue((0..<20).map { payload(site: "cluster", id: "c\(chunk)-\($0)") }, to: keys.shards[chunk % keys.shards.count])
            }
            var perMaster: [RedisEndpoint: Int] = [:]
            for shard in keys.shards {
                let depth = Int(try await redis.send(RedisCommand("LLEN", shard.queue)).orThrow().int ?? 0)
                let master = try await redis.master(of: shard.queue)
                perMaster[master, default: 0] += depth
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
        }
    }

    /// One throttled stream whose events landed on every shard is counted once, in the home
    /// shard's slot: the first event is stored, the rest go into one summary.
    @Test func aStreamSpreadOverTheShardsIsThrottledAsOne() async throws {
        try await Self.withShardedQueue { servers in try await Self.throttleOneStreamOverEveryShard(servers) }
    }

    /// The same on one Redis with `QUEUE_SHARDS=4`, where each shard's batches are decided in place.
    @Test func aStreamSpreadOverTheShardsOfOneRedisIsThrottledAsOne() async throws {
        let base = try TestServers(mongo: .shared)
        var configuration = base.configuration
        configuration.keys = configuration.keys.with(shardCount: 4)
        do {
            try await Self.throttleOneStreamOverEveryShard(TestServers(configuration: configuration, redis: base.redis, store: base.store, logger: base.logger))
        } catch {
            await base.shutdown()
            throw error
        }
        await base.shutdown()
    }

    static func throttleOneStreamOverEveryShard(_ servers: TestServers) async throws {
        let sent = 120
        let keys = servers.configuration.keys
        try await Throttle(redis: servers.redis, keys: keys).set(
            ThrottleRule(strategy: .fixedWindow(limit: 1, window: .seconds(3600)), deferInterval: .milliseconds(500)),
            for: ThrottleScope(siteID: "spread", eventType: "page_view"))
        for chunk in 0..<(sent / 10) {
            try await servers.queue.enqueue(
                (0..<10).map { payload(site: "spread", user: "same", id: "t\(chunk)-\($0)") }, to: keys.shards[chunk % keys.shards.count])
        }
        try await servers.withWorker {
            try await eventually("the first event and one summary of the rest are stored", timeout: .seconds(60)) {
                let stored = try await servers.count(#"{"site_id": "spread"}"#)
                let summary = try await servers.documents(#"{"site_id": "spread", "throttled": true}"#).first
                return stored == 2 && (summary?["count"] as? NSNumber)?.intValue == sent - 1
            }
        }
        let counters = try await Throttle(redis: servers.redis, keys: keys).counters()
        #expect(counters["tracked"] == sent, "each event decided once: \(counters)")
        #expect(counters["immediate"] == 1 && counters["deferred"] == 1 && counters["already_deferred"] == sent - 2)
    }

    /// A worker killed with batches in hand on several shards loses nothing: another worker
    /// recovers every shard's processing lists, and each event is stored once.
    @Test func aKilledWorkersBatchesAreRecoveredOnEveryShard() async throws {
        try await Self.withShardedQueue { servers in
            let total = 6_000
            for chunk in stride(from: 0, to: total, by: 500) {
                try await servers.queue.enqueue((chunk..<chunk + 500).map { payload(site: "shardkill", id: "k-\($0)") })
            }
            let orphaned = try await servers.killWorkersUntilOneDiesHoldingABatch(batchSize: 200, extra: ["WORKER_CONCURRENCY": "4"])
            try #require(!orphaned.isEmpty, "no worker died holding a batch; recovery went untested")
            #expect(try await servers.count() < total, "the workers finished before the kill; the test proved nothing")
            let survivor = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "200", "HEARTBEAT_TTL_MS": "1000"])
            try await eventually("every event is stored", timeout: .seconds(90)) {
                let stored = try await servers.count()
                let depth = try await servers.queue.depth()
                let lists = try await servers.processingLists()
                return stored == total && depth == 0 && lists.isEmpty
            }
            #expect(try await servers.count(#"{"site_id": "shardkill"}"#) == total)
            await survivor.stop()
        }
    }

    /// A cluster of the test's own: three masters with a replica each, stopped when it ends.
    struct Deployment {
        let nodes: [ServerProcess]

        /// Six nodes joined by `redis-cli --cluster create`, every slot served and every replica in sync.
        static func start() async throws -> Deployment {
            let nodes = try (0..<6).map { _ in try ServerProcess.clusterNode() }
            let create = Process()
            create.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
            create.arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"]
            create.standardOutput = FileHandle.nullDevice
            create.standardError = FileHandle.nullDevice
            try create.run()
            create.waitUntilExit()
            try #require(create.terminationStatus == 0, "redis-cli --cluster create failed")
            let deployment = Deployment(nodes: nodes)
            try await eventually("the cluster is up and every master's replica is in sync", timeout: .seconds(30)) {
                var synced = 0
                for node in deployment.endpoints {
                    let info = try await ClusterTests.ask(node, RedisCommand("CLUSTER", "INFO")).orThrow().string ?? ""
                    guard info.contains("cluster_state:ok") else { return false }
                    let replication = try await ClusterTests.ask(node, RedisCommand("INFO", "replication")).orThrow().string ?? ""
                    if replication.contains("role:master"), replication.contains("state=online") { synced += 1 }
                }
                return synced == 3
            }
            return deployment
        }

        var endpoints: [RedisEndpoint] { nodes.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) } }

        /// A client of this cluster.
        func client() -> RedisClient {
            var configuration = RedisConfiguration()
            configuration.cluster = RedisClusterConfiguration(nodes: endpoints)
            configuration.connectTimeout = .milliseconds(500)
            configuration.readTimeout = .seconds(2)
            return RedisClient(configuration: configuration, maxConnections: 2, logger: ClusterTests.logger)
        }

        /// The replica of the master on `endpoint`, from `CLUSTER NODES`.
        func replica(of master: RedisEndpoint) async throws -> ServerProcess {
            let table = try #require(try await ClusterTests.ask(master, RedisCommand("CLUSTER", "NODES")).orThrow().string)
            let rows = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter { $0.count > 3 }
            let masterID = try #require(rows.first { $0[1].hasPrefix("127.0.0.1:\(master.port)@") }?[0])
            let address = try #require(rows.first { $0[2].contains("slave") && $0[3] == masterID }?[1])
            let port = try #require(Int(address.split(separator: "@")[0].split(separator: ":")[1]))
            return try #require(nodes.first { $0.port == port })
        }

        /// The node on `endpoint`.
        func node(at endpoint: RedisEndpoint) -> ServerProcess? { nodes.first { $0.port == endpoint.port } }

        func stop() { for node in nodes { node.stop() } }
    }

    /// A master killed with `kill -9` while pushes confirmed by a replica (`REDIS_ACK_REPLICAS=1`)
    /// stream in: its replica takes over its slots, pushes go on being acknowledged without a
    /// restart (to other shards while its shards fail), and no acknowledged push is missing.
    /// The promoted replica has no replica of its own, so its shards refuse acknowledged pushes
    /// until one is added: ingest avoids them meanwhile. Pushes the master alone acknowledged
    /// while the replica lagged are lost with it, as this test checks to show it can see a loss.
    @Test func aKilledMasterLosesNoAcknowledgedPush() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let redis = deployment.client()
        let keys = QueueKeys(prefix: "kill:", cluster: true, shardCount: 6)
        let queue = ReliableQueue(redis: redis, keys: keys, pushAcks: ReplicaAcks(replicas: 1, timeout: .seconds(1)))
        let victim = try await redis.master(of: keys.home.queue)
        let acknowledged = NIOLockedValueBox<[String]>([])
        let killed = NIOLockedValueBox(false)
        let afterKill = NIOLockedValueBox(0)
        let pusher = Task {
            var next = 0
            var failures = 0
            while afterKill.withLockedValue({ $0 }) < 200, !Task.isCancelled {
                let ids = (next..<next + 10).map { "m\($0)" }
                next += 10
                do {
                    try await queue.enqueue(ids.map { payload(site: "killmaster", id: $0) })
                    acknowledged.withLockedValue { $0 += ids }
                    if killed.withLockedValue({ $0 }) { afterKill.withLockedValue { $0 += 1 } }
                } catch {
                    failures += 1
                }
            }
            return failures
        }
        defer { pusher.cancel() }
        try await eventually("pushes are acknowledged", timeout: .seconds(10)) { acknowledged.withLockedValue { $0.count } >= 2_000 }
        // The replica lags: stopped, its link cut (on loopback it is otherwise never behind).
        // Meanwhile a queue without acknowledgements pushes to the victim's shard too.
        let replica = try await deployment.replica(of: victim)
        replica.send(SIGSTOP)
        _ = try await Self.ask(victim, RedisCommand("CLIENT", "KILL", "TYPE", "replica")).orThrow()
        let unconfirmed = ReliableQueue(redis: redis, keys: keys)
        var unconfirmedIDs: [String] = []
        for batch in 0..<20 {
            let ids = (0..<10).map { "u\(batch)-\($0)" }
            try await unconfirmed.enqueue(ids.map { payload(site: "killmaster", id: $0) }, to: keys.home)
            unconfirmedIDs += ids
        }
        try #require(deployment.node(at: victim) != nil)
        deployment.node(at: victim)?.stop()
        killed.withLockedValue { $0 = true }
        replica.send(SIGCONT)
        try await eventually("200 pushes are acknowledged after the kill", timeout: .seconds(60)) { afterKill.withLockedValue { $0 } >= 200 }
        let failures = await pusher.value
        try await eventually("the killed master's replica serves its slots", timeout: .seconds(30)) {
            (try? await redis.send(RedisCommand("LLEN", keys.home.queue)).orThrow().int) != nil
        }
        #expect(try await redis.master(of: keys.home.queue) != victim)
        var queued = Set<String>()
        for shard in keys.shards {
            for item in (try await redis.send(RedisCommand("LRANGE", shard.queue, "0", "-1")).orThrow().elements ?? []) {
                if let bytes = item.bytes, let (event, _) = try? QueueEnvelope.decode(bytes) { queued.insert(event.eventID) }
            }
        }
        let lost = acknowledged.withLockedValue { $0 }.filter { !queued.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) acknowledged pushes lost (\(failures) pushes refused during the failover)")
        // What the master alone acknowledged while its replica lagged died with it: the loss
        // REDIS_ACK_REPLICAS prevents, and proof that this test sees one.
        #expect(unconfirmedIDs.allSatisfy { !queued.contains($0) }, "pushes no replica had were kept: the lag was not simulated")
        await redis.shutdown()
    }
}
