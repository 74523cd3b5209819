import ArgumentParser
import Hummingbird
import Logging
import Shared

/// IngestAPI: `POST /event`, `POST /events`, `GET /stats`, `/healthz`, `/metrics`.
@main
struct IngestAPICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "IngestAPI",
        abstract: "Accepts events over HTTP, queues them in Redis, answers stats from MongoDB.",
        discussion: "Configured by the environment (and .env): HOST, PORT, REDIS_URL, MONGO_URI, QUEUE_PREFIX, LOG_LEVEL.")

    @Option(name: .long, help: "Address to bind (overrides HOST).")
    var host: String?

    @Option(name: .long, help: "Port to bind (overrides PORT).")
    var port: Int?

    func run() async throws {
        var configuration = try IngestConfiguration(environment: .load())
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        LoggingSetup.bootstrap(level: configuration.pipeline.logLevel)
        let logger = Logger(label: "IngestAPI")
        _ = IngestMetrics.registry
        let dependencies = try await IngestDependencies.connect(configuration, logger: logger)
        do {
            try await dependencies.store.ensureIndexes()
        } catch {
            logger.warning("could not create indexes now; /stats works without them, slower", metadata: ["error": "\(error)"])
        }
        logger.info("IngestAPI starting", metadata: [
            "address": "\(configuration.host):\(configuration.port)", "redis": "\(configuration.pipeline.redis.displayName)",
            "mongo.database": "\(dependencies.store.databaseName)", "queue_shards": "\(dependencies.queue.keys.shards.count)",
        ])
        let app = buildApplication(configuration, dependencies: dependencies, logger: logger)
        try await app.runService()
        await dependencies.shutdown()
    }
}
