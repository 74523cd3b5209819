import ArgumentParser
import Logging
import ServiceLifecycle
import Shared

/// Worker: claims events from Redis and stores them in MongoDB.
@main
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "Worker",
        abstract: "Claims events from the Redis queue and stores them in MongoDB.",
        subcommands: [
            RunCommand.self, ThrottleCommand.self, LimitsCommand.self, DeadCommand.self, RecoverCommand.self, SitesCommand.self, KeysCommand.self,
            RollupsCommand.self,
        ],
        defaultSubcommand: RunCommand.self)
}

/// `Worker run` (the default): the claim loop until SIGTERM/SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the claim → store → acknowledge loop (the default).",
        discussion: "Configured by the environment (and .env): REDIS_URL, MONGO_URI, QUEUE_PREFIX, WORKER_BATCH_SIZE, WORKER_CONCURRENCY, RETRY_BASE_MS, RETRY_CAP_MS, LOG_LEVEL.")

    @Option(name: .long, help: "Most events claimed and stored at once (overrides WORKER_BATCH_SIZE).")
    var batchSize: Int?

    @Option(name: .long, help: "Claim loops in this process (overrides WORKER_CONCURRENCY).")
    var concurrency: Int?

    func run() async throws {
        let environment = Environment.load()
        var configuration = try WorkerConfiguration(environment: environment)
        if let batchSize { configuration.batchSize = batchSize }
        if let concurrency { configuration.concurrency = concurrency }
        configuration = try configuration.validated()
        LoggingSetup.bootstrap(level: configuration.pipeline.logLevel)
        let logger = Logger(label: "Worker")
        if environment["THROTTLE_DEDUP_MS"] != nil {
            logger.warning("THROTTLE_DEDUP_MS is no longer read: deferral records remember the last THROTTLE_DEDUP_IDS event ids instead")
        }
        let redis = RedisClient(configuration: configuration.pipeline.redis, maxConnections: configuration.concurrency + 1, logger: logger)
        // Heartbeats get a connection of their own: a blocking claim or a slow script on the
        // shared pool must never make this process look dead to its peers.
        // A beat that takes longer than a quarter of the TTL is given up, so the next one is still in time.
        var heartbeatConfiguration = configuration.pipeline.redis
        heartbeatConfiguration.readTimeout = min(heartbeatConfiguration.readTimeout, configuration.heartbeatTTL / 4)
        let heartbeatRedis = RedisClient(configuration: heartbeatConfiguration, maxConnections: 1, logger: logger)
        let keys: QueueKeys
        do {
            keys = try await ReliableQueue.agreeOnShards(redis: redis, keys: configuration.pipeline.keys, configured: configuration.pipeline.queueShards)
        } catch {
            await redis.shutdown()
            await heartbeatRedis.shutdown()
            throw error
        }
        let store = try MongoStore(uri: configuration.pipeline.mongoURI, maxClients: configuration.concurrency, appName: "Worker", logger: logger)
        let countries: CountryDatabase?
        do {
            countries = try CountryDatabase(configuration.countrySource)
        } catch {
            // A database named by GEOIP_DB must open; Debian's default is only missed.
            if case .maxMind = configuration.countrySource { throw error }
            logger.warning("no country database; events are stored without a country", metadata: ["error": "\(error)"])
            countries = nil
        }
        let worker = EventWorker(
            configuration: configuration, queue: ReliableQueue(redis: redis, keys: keys, pushAcks: configuration.pushAcks), store: store, logger: logger,
            heartbeatRedis: heartbeatRedis, countries: countries)
        do {
            try await store.ensureIndexes()
        } catch {
            logger.warning("could not create indexes now; will store events anyway", metadata: ["error": "\(error)"])
        }
        logger.info("worker starting", metadata: [
            "workers": "\(worker.workerIDs.joined(separator: ","))", "batch_size": "\(configuration.batchSize)",
            "redis": "\(configuration.pipeline.redis.displayName)", "queue_shards": "\(keys.shards.count)", "mongo.database": "\(store.databaseName)",
            "countries": "\(countries?.description ?? "none")",
        ])
        var services: [any Service] = [worker]
        if let port = configuration.metricsPort { services.append(WorkerMetrics.server(
                host: configuration.metricsHost, port: port, access: MetricsAccess(token: configuration.metricsToken),
                breakers: [worker.breaker], logger: logger)) }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await redis.shutdown()
        await heartbeatRedis.shutdown()
        await store.shutdown(waitingAtMost: .seconds(1))  // a hung insert was abandoned at shutdown: no use waiting for it
    }
}
