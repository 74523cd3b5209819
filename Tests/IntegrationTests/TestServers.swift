import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import Shared
@testable import Worker

/// The redis-server and nx-27017 that `scripts/test` started, and a fresh namespace on them
/// (key prefix and database) for each test so tests run side by side.
struct TestServers {
    static let environment = ProcessInfo.processInfo.environment

    /// Which nx-27017 a test uses: the shared one, or the one kept for the stats suites (their
    /// cold rollup builds would hold a single-threaded server past other tests' deadlines).
    enum Mongo: String {
        case shared = "TEST_MONGO_URI"
        case stats = "TEST_STATS_MONGO_URI"
    }

    /// The server URLs, or a failure that says how to get them.
    static func urls(_ server: Mongo = .shared) throws -> (redis: String, mongo: String) {
        guard let redis = environment["TEST_REDIS_URL"], let mongo = environment[server.rawValue] else {
            throw TestSetupError("TEST_REDIS_URL and \(server.rawValue) are unset: run the tests with scripts/test")
        }
        return (redis, mongo)
    }

    /// The cluster every Redis client of the pipeline suites talks to when `scripts/test` runs
    /// them a second time with `TEST_ON_CLUSTER=1` (nil: the single redis-server).
    static let cluster: RedisClusterConfiguration? = {
        guard environment["TEST_ON_CLUSTER"] == "1" else { return nil }
        return clusterNodes
    }()

    /// The three-master cluster `scripts/test` started (`TEST_REDIS_CLUSTER_NODES`), whichever run this is.
    static let clusterNodes: RedisClusterConfiguration? = {
        guard let list = environment["TEST_REDIS_CLUSTER_NODES"], !list.isEmpty else { return nil }
        return try? RedisClusterConfiguration(environment: Environment(["REDIS_CLUSTER_NODES": list]))
    }()

    /// Debian's GeoIP databases, as a worker opens them by default (scripts/setup installs them).
    static let countries = try? CountryDatabase(CountryDatabase.debianDefault)

    let configuration: PipelineConfiguration
    let redis: RedisClient
    let store: MongoStore
    let queue: ReliableQueue
    let logger: Logger

    /// A namespace of its own: prefix `t<random>:` and database `t<random>`.
    init(mongo server: Mongo = .shared) throws {
        let (redisURL, mongoURI) = try Self.urls(server)
        let namespace = "t" + String(UInt64.random(in: 0 ... .max), radix: 36)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        self.logger = logger
        var mongo = URLComponents(string: mongoURI)!
        mongo.path = "/" + namespace
        var redisConfiguration = try RedisConfiguration(url: redisURL)
        redisConfiguration.cluster = Self.cluster
        // On the cluster every name carries its hash tag. The queue has one shard unless
        // TEST_QUEUE_SHARDS says otherwise (scripts/test runs the pipeline suites with 12 on the
        // cluster and 4 on one Redis).
        configuration = PipelineConfiguration(
            redis: redisConfiguration, mongoURI: mongo.string!,
            keys: QueueKeys(prefix: namespace + ":", cluster: Self.cluster != nil, shardCount: Int(Self.environment["TEST_QUEUE_SHARDS"] ?? "") ?? 1))
        redis = RedisClient(configuration: configuration.redis, maxConnections: 4, logger: logger)
        store = try MongoStore(uri: configuration.mongoURI, maxClients: 4, appName: "tests", logger: logger)
        queue = ReliableQueue(redis: redis, keys: configuration.keys)
    }

    /// Servers from their parts (a test with a Redis of its own).
    init(configuration: PipelineConfiguration, redis: RedisClient, store: MongoStore, logger: Logger) {
        self.configuration = configuration
        self.redis = redis
        self.store = store
        self.logger = logger
        self.queue = ReliableQueue(redis: redis, keys: configuration.keys)
    }

    /// Runs `body` with a fresh namespace and closes its clients when it ends, awaited, thrown
    /// or not: no teardown is left running after the test.
    static func with<T>(mongo server: Mongo = .shared, _ body: (TestServers) async throws -> T) async throws -> T {
        let servers = try TestServers(mongo: server)
        do {
            let result = try await body(servers)
            await servers.shutdown()
            return result
        } catch {
            await servers.shutdown()
            throw error
        }
    }

    /// Worker settings for these servers; short waits so tests finish quickly.
    func workerConfiguration(batchSize: Int = 100, heartbeatTTL: Duration = .seconds(10)) -> WorkerConfiguration {
        var config = WorkerConfiguration(pipeline: configuration)
        config.batchSize = batchSize
        config.claimWait = .milliseconds(200)
        config.heartbeatTTL = heartbeatTTL
        config.heartbeatInterval = heartbeatTTL / 4
        config.recoveryInterval = heartbeatTTL / 2
        config.retryBase = .milliseconds(20)
        config.retryCap = .milliseconds(500)
        return config
    }

    /// Runs an in-process worker for the duration of `body`, then shuts it down gracefully.
    func withWorker<T>(batchSize: Int = 100, _ body: () async throws -> T) async throws -> T {
        try await withWorkers(batchSize: batchSize) { _ in try await body() }
    }

    /// Runs `count` in-process workers (each its own service, ids and heartbeat) with
    /// `configure` applied to their settings, for the duration of `body`.
    func withWorkers<T>(
        _ count: Int = 1, batchSize: Int = 100, configure: (inout WorkerConfiguration) -> Void = { _ in },
        _ body: ([EventWorker]) async throws -> T
    ) async throws -> T {
        var configuration = workerConfiguration(batchSize: batchSize)
        configuration.throttlePollInterval = .milliseconds(100)
        configure(&configuration)
        let workers = (0..<count).map { _ in
            EventWorker(configuration: configuration, queue: queue, store: store, logger: logger, countries: Self.countries)
        }
        let group = ServiceGroup(configuration: .init(services: workers, logger: logger))
        let running = Task { try await group.run() }
        do {
            let result = try await body(workers)
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }

    /// Stored documents matching `match` (JSON), as relaxed extended JSON objects.
    func documents(_ match: String = "{}") async throws -> [[String: Any]] {
        try await store.aggregate(pipelineJSON: #"[{"$match": \#(match)}]"#).map {
            try JSONSerialization.jsonObject(with: $0) as! [String: Any]
        }
    }

    /// The number of stored documents matching `match`.
    func count(_ match: String = "{}") async throws -> Int {
        let rows = try await store.aggregate(pipelineJSON: #"[{"$match": \#(match)}, {"$group": {"_id": null, "n": {"$sum": 1}}}]"#)
        guard let first = rows.first else { return 0 }
        let object = try JSONSerialization.jsonObject(with: first) as! [String: Any]
        return (object["n"] as? NSNumber)?.intValue ?? 0
    }

    /// Events waiting in the queue, over every shard.
    func queued() async throws -> Int { try await queue.depth() }

    /// Every processing list, in every shard (KEYS by each shard's tag: it reaches the shard's node).
    func processingLists() async throws -> [String] {
        var lists: [String] = []
        for shard in configuration.keys.shards {
            lists += (try await redis.send(RedisCommand("KEYS", shard.processing("*"))).orThrow().elements ?? []).compactMap(\.string)
        }
        return lists
    }

    /// Starts Worker processes (`extra` settings, batches of `batchSize`) and kills each with
    /// SIGKILL once it has stored more and holds a batch, until one dies holding a batch (a kill
    /// lands between "the batch is in hand" and SIGKILL: on a loaded machine the worker may
    /// acknowledge in between), at most five; the processing lists left behind.
    func killWorkersUntilOneDiesHoldingABatch(batchSize: Int, extra: [String: String] = [:]) async throws -> [String] {
        var orphaned: [String] = []
        for attempt in 1...5 where orphaned.isEmpty {
            let settings = extra.merging(["WORKER_BATCH_SIZE": String(batchSize), "HEARTBEAT_TTL_MS": "1000"]) { _, new in new }
            let doomed = try WorkerProcess(self, extra: settings)
            try await eventually("worker \(attempt) is storing, a batch in hand") {
                guard try await count() >= batchSize * attempt else { return false }
                return try await !processingLists().isEmpty
            }
            doomed.kill(signal: SIGKILL)
            _ = try await doomed.waitForExit(timeout: .seconds(5))
            orphaned = try await processingLists()
        }
        return orphaned
    }

    /// Every worker fence, in every shard.
    func fences() async throws -> [String] {
        var fences: [String] = []
        for shard in configuration.keys.shards {
            fences += (try await redis.send(RedisCommand("KEYS", shard.fence("*"))).orThrow().elements ?? []).compactMap(\.string)
        }
        return fences
    }

    /// The length of a Redis list.
    func length(_ key: String) async throws -> Int {
        Int(try await redis.send(RedisCommand("LLEN", key)).orThrow().int ?? -1)
    }

    /// Closes the clients.
    func shutdown() async {
        await redis.shutdown()
        await store.shutdown()
    }
}

/// One command to the server at `endpoint`, on a client of its own, closed before returning.
func ask(_ endpoint: RedisEndpoint, _ command: RedisCommand, logger: Logger = Logger(label: "test")) async throws -> RedisReply {
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

/// The tests cannot run: the message says what to do.
struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 50 ms until it holds; fails after `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out after \(timeout) waiting for: \(what)", sourceLocation: sourceLocation)
    throw TestSetupError("timed out waiting for \(what)")
}

/// A queued payload for an event, as IngestAPI would push it.
func payload(site: String, path: String = "/", user: String? = nil, id: String = UUID().uuidString, timestamp: Int64 = 1_763_916_271_123) -> [UInt8] {
    let event = Event(eventID: id, siteID: site, eventType: "page_view", path: path, userID: user, timestamp: timestamp, receivedAt: timestamp)
    return Array(try! JSONEncoder().encode(event))
}
