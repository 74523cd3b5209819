import Foundation
import Logging
import Testing

@testable import Shared

/// Redis Sentinel on loopback: a master, two replicas and three sentinels of the test's own.
/// The queue finds the master through the sentinels, follows a failover with no restart, and,
/// with `REDIS_ACK_REPLICAS=1`, loses no push it acknowledged when the master is killed.
@Suite(.serialized) struct SentinelTests {
    static let name = "pipeline-test"

    /// The servers of one test, stopped when it ends.
    struct Deployment {
        let master: ServerProcess
        let replicas: [ServerProcess]
        let sentinels: [ServerProcess]
        let logger = Logger(label: "sentinel-test")

        /// Master, replicas and sentinels started, the replicas in sync and known to every sentinel.
        static func start() async throws -> Deployment {
            let master = try ServerProcess.redis(replicaOf: nil)
            let replicas = try (0..<2).map { _ in try ServerProcess.redis(replicaOf: master.port) }
            let sentinels = try (0..<3).map { _ in try ServerProcess.sentinel(watching: master.port, name: SentinelTests.name) }
            let deployment = Deployment(master: master, replicas: replicas, sentinels: sentinels)
            try await eventually("the replicas are in sync and every sentinel knows them and its peers", timeout: .seconds(30)) {
                // "online": the first sync is over (a replica still loading acknowledges nothing).
                guard try await deployment.info(master.port, "replication").components(separatedBy: "state=online").count == 3 else { return false }
                for sentinel in sentinels {
                    let known = try await deployment.ask(sentinel.port, RedisCommand("SENTINEL", "replicas", SentinelTests.name)).elements?.count
                    let peers = try await deployment.ask(sentinel.port, RedisCommand("SENTINEL", "sentinels", SentinelTests.name)).elements?.count
                    guard known == 2, peers == 2 else { return false }
                }
                return true
            }
            return deployment
        }

        /// A client that finds the master through the sentinels, asking again every `recheck`.
        func sentinelClient(recheck: Duration = .seconds(5)) -> RedisClient {
            var configuration = RedisConfiguration(host: "192.0.2.1", port: 1)  // never used: the sentinels name the master
            configuration.connectTimeout = .milliseconds(500)
            configuration.readTimeout = .seconds(2)
            configuration.sentinel = RedisSentinelConfiguration(
                sentinels: sentinels.map { RedisEndpoint(host: "127.0.0.1", port: $0.port) }, masterName: SentinelTests.name, recheckInterval: recheck)
            return RedisClient(configuration: configuration, maxConnections: 2, logger: logger)
        }

        /// One command to the server on `port`, on a client of its own.
        func ask(_ port: Int, _ command: RedisCommand) async throws -> RedisReply {
            try await IntegrationTests.ask(RedisEndpoint(host: "127.0.0.1", port: port), command, logger: logger)
        }

        /// What the queue under `keys` holds on the server on `port`, newest first.
        func queued(_ keys: QueueKeys, on port: Int) async throws -> [String] {
            try await ask(port, RedisCommand("LRANGE", keys.queue, "0", "-1")).elements?.compactMap(\.string) ?? []
        }

        /// `INFO section` of the server on `port`.
        func info(_ port: Int, _ section: String) async throws -> String {
            try await ask(port, RedisCommand("INFO", section)).string ?? ""
        }

        /// The port of the server that says it is master, among the replicas.
        func promotedReplica() async throws -> Int? {
            for replica in replicas where try await info(replica.port, "replication").contains("role:master") { return replica.port }
            return nil
        }

        /// Stops every server.
        func stop() {
            for server in sentinels + replicas + [master] { server.stop() }
        }
    }

    @Test func theQueueWritesToTheMasterTheSentinelsName() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let keys = QueueKeys(prefix: "sentinel-\(UUID().uuidString.prefix(8)):")
        let redis = deployment.sentinelClient()
        let queue = ReliableQueue(redis: redis, keys: keys, pushAcks: ReplicaAcks(replicas: 2, timeout: .seconds(2)))
        #expect(try await queue.enqueue([Array("a".utf8), Array("b".utf8)]) == 2)
        // On the master, and (WAIT 2) on both replicas before the push returned.
        for port in [deployment.master.port] + deployment.replicas.map(\.port) {
            #expect(try await deployment.ask(port, RedisCommand("LLEN", keys.queue)).int == 2, "server on \(port)")
        }
        await redis.shutdown()
    }

    /// Replicas that lag (SIGSTOPped) when the master dies: what the master alone acknowledged
    /// is gone after the failover, as Redis documents; with one replica's acknowledgement
    /// required, nothing the client was told is stored is lost.
    @Test func withLaggingReplicasOnlyAcknowledgementsKeepWhatWasAcknowledged() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let keys = QueueKeys(prefix: "lag-\(UUID().uuidString.prefix(8)):")
        let redis = deployment.sentinelClient(recheck: .seconds(1))
        let plain = ReliableQueue(redis: redis, keys: keys)
        let acked = ReliableQueue(redis: redis, keys: keys, pushAcks: ReplicaAcks(replicas: 1, timeout: .milliseconds(200)))
        _ = try await acked.enqueue([Array("before".utf8)])
        // Lag: the replicas stop, and their links are cut (a stopped replica would still find
        // in its socket buffer what the master had sent). Within the sentinels' 1 s down-after:
        // the replicas must not look down, or none would be promoted.
        for replica in deployment.replicas { replica.send(SIGSTOP) }
        #expect(try await deployment.ask(deployment.master.port, RedisCommand("CLIENT", "KILL", "TYPE", "replica")).int == 2)
        let plainAnswer = try await plain.enqueue([Array("plain-during-lag".utf8)])
        await #expect(throws: RedisError.self, "no replica confirms while they are stopped") {
            _ = try await acked.enqueue([Array("acked-during-lag".utf8)])
        }
        deployment.master.stop()
        for replica in deployment.replicas { replica.send(SIGCONT) }
        #expect(plainAnswer == 2, "the master alone acknowledged it")
        try await eventually("a replica is promoted and takes acknowledged pushes", timeout: .seconds(60)) {
            (try? await acked.enqueue([Array("after".utf8)])) != nil
        }
        let promoted = try #require(try await deployment.promotedReplica())
        let stored = try await deployment.queued(keys, on: promoted)
        #expect(stored.contains("before") && stored.contains("after"), "\(stored)")
        #expect(!stored.contains("plain-during-lag"), "acknowledged by the master alone and lost with it (if this fails, the lag was not reproduced)")
        await redis.shutdown()
    }

    /// A planned failover (`SENTINEL FAILOVER`): the old master lives on as a replica. Pooled
    /// connections to it must not be written to; the client moves to the new master.
    @Test func aPlannedFailoverIsFollowedAndTheDemotedMasterIsNotWrittenTo() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let keys = QueueKeys(prefix: "planned-\(UUID().uuidString.prefix(8)):")
        let redis = deployment.sentinelClient(recheck: .seconds(30))  // only a READONLY answer or a lost connection can tell
        let queue = ReliableQueue(redis: redis, keys: keys)
        _ = try await queue.enqueue([Array("before".utf8)])
        #expect(try await deployment.ask(deployment.sentinels[0].port, RedisCommand("SENTINEL", "FAILOVER", SentinelTests.name)).string == "OK")
        try await eventually("the old master is a replica", timeout: .seconds(30)) {
            // Demoted, the old master closes its clients: a lost connection here means "not yet".
            (try? await deployment.info(deployment.master.port, "replication"))?.contains("role:slave") == true
        }
        try await eventually("pushes are acknowledged again", timeout: .seconds(30)) {
            (try? await queue.enqueue([Array("after".utf8)])) != nil
        }
        let promoted = try #require(try await deployment.promotedReplica())
        let onNew = try await deployment.queued(keys, on: promoted)
        #expect(onNew.contains("after"), "the push went to the new master: \(onNew)")
        await redis.shutdown()
    }

    /// The sentinels are all down but the master is fine: the client keeps writing to the
    /// master they named last (and checks it with ROLE on every new connection).
    @Test func withEverySentinelDownTheLastNamedMasterIsStillUsed() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let keys = QueueKeys(prefix: "nosentinel-\(UUID().uuidString.prefix(8)):")
        let redis = deployment.sentinelClient(recheck: .zero)  // every checkout asks the sentinels
        let queue = ReliableQueue(redis: redis, keys: keys)
        _ = try await queue.enqueue([Array("a".utf8)])
        for sentinel in deployment.sentinels { sentinel.stop() }
        for n in 0..<5 { _ = try await queue.enqueue([Array("b\(n)".utf8)]) }
        #expect(try await deployment.ask(deployment.master.port, RedisCommand("LLEN", keys.queue)).int == 6)
        await redis.shutdown()
    }

    @Test func aKilledMasterLosesNoAcknowledgedPushAndIngestComesBackWithoutARestart() async throws {
        let deployment = try await Deployment.start()
        defer { deployment.stop() }
        let keys = QueueKeys(prefix: "failover-\(UUID().uuidString.prefix(8)):")
        let redis = deployment.sentinelClient(recheck: .seconds(1))
        let queue = ReliableQueue(redis: redis, keys: keys, pushAcks: ReplicaAcks(replicas: 1, timeout: .seconds(1)))
        var acknowledged: [String] = []
        var refused = 0
        var next = 0
        /// Pushes one numbered payload; records it when the push was acknowledged.
        func push() async {
            let payload = "event-\(next)"
            next += 1
            do {
                _ = try await queue.enqueue([Array(payload.utf8)])
                acknowledged.append(payload)
            } catch {
                refused += 1  // 503 to a client: not acknowledged, it would resend
            }
        }
        for _ in 0..<50 { await push() }
        #expect(acknowledged.count == 50, "every push acknowledged before the kill (\(refused) refused)")
        deployment.master.stop()  // SIGKILL, mid-stream
        let killedAfter = acknowledged.count
        try await eventually("pushes are acknowledged again after the failover", timeout: .seconds(60)) {
            await push()
            return acknowledged.count >= killedAfter + 20
        }
        let promoted = try #require(try await deployment.promotedReplica(), "a replica was promoted")
        let stored = Set(try await deployment.queued(keys, on: promoted))
        let lost = acknowledged.filter { !stored.contains($0) }
        #expect(lost.isEmpty, "acknowledged and lost: \(lost.prefix(10)) of \(lost.count)")
        #expect(refused > 0, "the kill was noticed (pushes refused while no master answered)")
        await redis.shutdown()
    }
}
