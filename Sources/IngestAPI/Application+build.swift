import Hummingbird
import Logging
import Metrics
import Prometheus
import Shared

/// The long-lived clients the routes use.
struct IngestDependencies: Sendable {
    /// The Redis queue events are pushed to.
    let queue: ReliableQueue
    /// The store `/stats` reads.
    let store: MongoStore
    /// Where `/metrics` reads from.
    let registry: PrometheusCollectorRegistry
    /// How many LPUSHes may be in flight.
    let maxPushesInFlight: Int

    /// Opens the clients for `configuration`.
    static func connect(_ configuration: IngestConfiguration, logger: Logger) throws -> IngestDependencies {
        let redis = RedisClient(configuration: configuration.pipeline.redis, maxConnections: configuration.redisConnections, logger: logger)
        let store = try MongoStore(uri: configuration.pipeline.mongoURI, maxClients: configuration.mongoClients, appName: "IngestAPI", logger: logger)
        return IngestDependencies(
            queue: ReliableQueue(redis: redis, keys: configuration.pipeline.keys), store: store,
            registry: IngestMetrics.registry, maxPushesInFlight: configuration.redisConnections)
    }

    /// Closes the clients.
    func shutdown() async {
        await queue.redis.shutdown()
        await store.shutdown()
    }
}

/// The routes and middleware of IngestAPI; tests drive the same router.
func buildRouter(_ dependencies: IngestDependencies) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: RequestMetricsMiddleware())
    router.add(middleware: CORSMiddleware(
        allowOrigin: .all, allowHeaders: [.contentType], allowMethods: [.get, .post, .options], maxAge: .seconds(86_400)))
    router.add(middleware: JSONErrorMiddleware(routes: [
        "/event": [.post, .options], "/events": [.post, .options], "/stats": [.get], "/healthz": [.get], "/metrics": [.get],
    ]))
    EventController(enqueuer: Enqueuer(queue: dependencies.queue, maxInFlight: dependencies.maxPushesInFlight))
        .addRoutes(to: router)
    StatsController(store: dependencies.store).addRoutes(to: router)
    HealthController(queue: dependencies.queue, store: dependencies.store, registry: dependencies.registry)
        .addRoutes(to: router)
    return router
}

/// The application: the router on `host:port`, stopping on SIGTERM/SIGINT.
func buildApplication(_ configuration: IngestConfiguration, dependencies: IngestDependencies, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        logger: logger)
}

/// The process-wide Prometheus registry behind swift-metrics.
enum IngestMetrics {
    /// Bootstraps swift-metrics on first use; later uses get the same registry.
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.nameAndLabelSanitizer = { name, labels in
            (prometheusName(name), labels.map { (prometheusName($0.0), $0.1) })
        }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// Events in the Redis queue, from the last LPUSH reply or LLEN.
    static let queueDepth: Metrics.Gauge = {
        _ = registry  // bootstrap first, or the gauge would bind to the no-op backend for good
        return Metrics.Gauge(label: "queue_depth")
    }()

    /// Counts `count` events refused with `code` (validation, size, media type, Redis down).
    static func rejected(code: String, count: Int = 1) {
        Counter(label: "events_rejected_total", dimensions: [("code", code)]).increment(by: count)
    }

    /// `hb.requests` → `hb_requests`: Prometheus names allow only `[a-zA-Z0-9_:]`. Runs for every
    /// metric handle made, several per request, so valid names are returned without a copy.
    static func prometheusName(_ name: String) -> String {
        func allowed(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: ":"): true
            default: false
            }
        }
        if name.utf8.allSatisfy(allowed) { return name }
        return String(decoding: name.utf8.map { allowed($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
    }
}
