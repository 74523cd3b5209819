import Hummingbird
import NIOCore
import Logging
import Metrics
import Prometheus
import Shared

/// The long-lived clients the routes use, and the limits that keep them bounded.
struct IngestDependencies: Sendable {
    /// The Redis queue events are pushed to.
    let queue: ReliableQueue
    /// The store `/stats` reads.
    let store: MongoStore
    /// Where `/metrics` reads from.
    let registry: PrometheusCollectorRegistry
    /// How many LPUSHes may be in flight.
    let maxPushesInFlight: Int
    /// Which rate limits apply.
    let limits: RateLimitPolicy
    /// The queue's high-water mark (0: none).
    var queueMax = 0
    /// Most payload bytes waiting for a group commit; past it ingest answers 503 at once.
    var maxWaitingBytes = 64 << 20
    /// Most rate-limit keys tracked in Redis; past it new keys are admitted untracked.
    var maxRateLimitKeys = ReliableQueue.defaultMaxRateLimitKeys
    /// Who may read `/metrics` (loopback only unless a token is set).
    var metricsAccess = MetricsAccess(token: nil)
    /// `/stats` queries at once and queued; past it 503 at once.
    var statsGate = BoundedGate(maxRunning: 4, maxWaiting: 32, maxWait: .seconds(2))
    /// `/metrics` scrapes at once and queued.
    var metricsGate = BoundedGate(maxRunning: 2, maxWaiting: 8, maxWait: .seconds(1))
    /// Longest a `/stats` aggregation may run in MongoDB (`maxTimeMS`).
    var statsMaxTime: Duration = .seconds(10)
    /// Who may read which site's stats (keys, public sites, per-key rate limit).
    var access: StatsAccess

    /// Dependencies from their parts; no rate limits unless `limits` is given (tests use this).
    init(queue: ReliableQueue, store: MongoStore, registry: PrometheusCollectorRegistry, maxPushesInFlight: Int, limits: RateLimitPolicy? = nil) {
        self.queue = queue
        self.store = store
        self.registry = registry
        self.maxPushesInFlight = maxPushesInFlight
        self.limits = limits ?? RateLimitPolicy(
            defaults: RateLimits(), store: RateLimitStore(redis: queue.redis, keys: queue.keys), trustedProxies: 0, logger: Logger(label: "IngestAPI"))
        self.access = StatsAccess(store: store, rateLimit: KeyRateLimit(redis: queue.redis, keys: queue.keys))
    }

    /// Opens the clients for `configuration`.
    static func connect(_ configuration: IngestConfiguration, logger: Logger) async throws -> IngestDependencies {
        let redis = RedisClient(configuration: configuration.pipeline.redis, maxConnections: configuration.redisConnections, logger: logger)
        let keys: QueueKeys
        do {
            keys = try await ReliableQueue.agreeOnShards(redis: redis, keys: configuration.pipeline.keys, configured: configuration.pipeline.queueShards)
        } catch {
            await redis.shutdown()
            throw error
        }
        let store = try MongoStore(uri: configuration.pipeline.mongoURI, maxClients: configuration.mongoClients, appName: "IngestAPI", logger: logger)
        var dependencies = IngestDependencies(
            queue: ReliableQueue(redis: redis, keys: keys, pushAcks: configuration.pushAcks), store: store,
            registry: IngestMetrics.registry, maxPushesInFlight: configuration.redisConnections,
            limits: RateLimitPolicy(
                defaults: configuration.rateLimits, store: RateLimitStore(redis: redis, keys: keys),
                trustedProxies: configuration.trustedProxies, logger: logger))
        dependencies.queueMax = configuration.queueMax
        dependencies.maxWaitingBytes = configuration.maxWaitingBytes
        dependencies.maxRateLimitKeys = configuration.maxRateLimitKeys
        dependencies.metricsAccess = MetricsAccess(token: configuration.metricsToken, behindProxy: configuration.trustedProxies > 0)
        // One MongoDB client (and store thread) stays free of /stats, for the health check's ping.
        dependencies.statsGate = BoundedGate(
            maxRunning: configuration.mongoClients - 1, maxWaiting: configuration.statsMaxWaiting, maxWait: configuration.statsMaxWait)
        dependencies.statsMaxTime = configuration.statsMaxTime
        dependencies.access = StatsAccess(
            store: store,
            rateLimit: KeyRateLimit(redis: redis, keys: keys, limit: configuration.statsKeyRateLimit, window: configuration.statsKeyRateWindow),
            requireKeyForSeedStats: configuration.statsRequireKey, cacheTTL: configuration.statsAccessCacheTTL, logger: logger)
        return dependencies
    }

    /// Closes the clients.
    func shutdown() async {
        await queue.redis.shutdown()
        await store.shutdown()
    }
}

/// The routes and middleware of IngestAPI; tests drive the same router. CORS is answered on
/// the ingest routes only: any site may send events, no site's page may read stats or metrics.
func buildRouter(_ dependencies: IngestDependencies) -> Router<IngestRequestContext> {
    let router = Router(context: IngestRequestContext.self)
    let dashboard = DashboardController()
    router.add(middleware: RequestMetricsMiddleware())
    router.add(middleware: JSONErrorMiddleware(routes: dashboard.allowedMethods.merging([
        "/event": [.post, .options], "/events": [.post, .options], "/api/event": [.post, .options], "/js/script.js": [.get, .head], "/stats": [.get], "/healthz": [.get], "/metrics": [.get],
        "/api/openapi.json": [.get],
        "/api/v1/events": [.get], "/api/v1/export": [.get],
        "/api/v1/stats/realtime/visitors": [.get], "/api/v1/stats/aggregate": [.get], "/api/v1/stats/timeseries": [.get],
        "/api/v1/stats/breakdown": [.get], "/api/v2/query": [.post],
        "/api/v1/sites": [.get], "/api/v1/sites/{site_id}": [.get],
    ]) { $1 }))
    let ingest = router.group()
        .add(middleware: CORSMiddleware(allowOrigin: .all, allowHeaders: [.contentType], allowMethods: [.post, .options], maxAge: .seconds(86_400)))
        .add(middleware: JSONErrorMiddleware(routes: [:]))  // errors answered as JSON before CORS adds its headers
    EventController(
        enqueuer: Enqueuer(
            queue: dependencies.queue, maxInFlight: dependencies.maxPushesInFlight, highWater: dependencies.queueMax,
            maxWaitingBytes: dependencies.maxWaitingBytes, maxRateLimitKeys: dependencies.maxRateLimitKeys),
        limits: dependencies.limits)
        .addRoutes(to: ingest)
    TrackerController().addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    dashboard.addRoutes(to: router)
    StatsController(store: dependencies.store, gate: dependencies.statsGate, maxTime: dependencies.statsMaxTime, access: dependencies.access)
        .addRoutes(to: router)
    let statsEngine = QueryEngine(store: dependencies.store, maxTime: dependencies.statsMaxTime, logger: Logger(label: "stats"))
    StatsV1Controller(engine: statsEngine, access: dependencies.access, gate: dependencies.statsGate).addRoutes(to: router)
    StatsV2Controller(engine: statsEngine, access: dependencies.access, gate: dependencies.statsGate).addRoutes(to: router)
    SitesController(access: dependencies.access).addRoutes(to: router)
    EventsExportController(
        store: dependencies.store, access: dependencies.access, gate: dependencies.statsGate, exports: ExportSlots(limit: 2),
        maxTime: dependencies.statsMaxTime)
        .addRoutes(to: router)
    HealthController(
        queue: dependencies.queue, registry: dependencies.registry, queueMax: dependencies.queueMax,
        check: HealthCheck(queue: dependencies.queue, store: dependencies.store),
        metricsGate: dependencies.metricsGate, metricsAccess: dependencies.metricsAccess)
        .addRoutes(to: router)
    return router
}

/// The application: the router on `host:port` with idle and read timeouts and caps on open
/// connections, in all and per client address, stopping on SIGTERM/SIGINT.
func buildApplication(_ configuration: IngestConfiguration, dependencies: IngestDependencies, logger: Logger) -> some ApplicationProtocol {
    let readTimeout = TimeAmount.nanoseconds(configuration.httpReadTimeout.totalNanoseconds)
    let perAddress = configuration.httpMaxConnectionsPerAddress > 0 ? ConnectionsPerAddress(limit: configuration.httpMaxConnectionsPerAddress) : nil
    return Application(
        router: buildRouter(dependencies),
        server: .http1(configuration: .init(
            additionalChannelHandlers: [RequestReadTimeout(timeout: readTimeout)] + (perAddress.map { [ConnectionsPerAddressHandler(table: $0)] } ?? []),
            idleTimeout: .nanoseconds(configuration.httpIdleTimeout.totalNanoseconds))),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: nil,
            availableConnectionsDelegate: .maximum(configuration.httpMaxConnections, logger: logger)),
        logger: logger)
}

/// The process-wide Prometheus registry behind swift-metrics.
enum IngestMetrics {
    /// The Prometheus registry swift-metrics reports to.
    static var registry: PrometheusCollectorRegistry { PrometheusSetup.registry }

    /// Events in the Redis queue, from the last LPUSH reply or LLEN.
    static let queueDepth: Metrics.Gauge = {
        _ = registry  // bootstrap first, or the gauge would bind to the no-op backend for good
        return Metrics.Gauge(label: "queue_depth")
    }()

    /// Events in `et:dead`, from the last `/healthz` or `/metrics`.
    static let deadLetters: Metrics.Gauge = {
        _ = registry
        return Metrics.Gauge(label: "dead_letters")
    }()

    /// Counts an event refused by the rate limit of `scope`.
    static func rateLimited(_ scope: RateLimitScope) {
        Counter(label: "rate_limited_total", dimensions: [("scope", scope.rawValue)]).increment()
    }

    /// Counts `count` events accepted and not queued: `bot` (by user agent), `engagement`.
    static func dropped(reason: String, count: Int = 1) {
        Counter(label: "events_dropped_total", dimensions: [("reason", reason)]).increment(by: count)
    }

    /// Counts `count` events refused with `code` (validation, size, media type, Redis down).
    static func rejected(code: String, count: Int = 1) {
        Counter(label: "events_rejected_total", dimensions: [("code", code)]).increment(by: count)
    }
}
