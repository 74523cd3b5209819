import Hummingbird
import Logging
import Metrics
import NIOCore
import ServiceLifecycle
import Shared

/// This worker process's metrics (swift-metrics, Prometheus text on `WORKER_METRICS_PORT`).
enum WorkerMetrics {
    /// A counter reporting to the Prometheus registry (bootstrapped first, or it would bind to
    /// swift-metrics' no-op backend for good).
    private static func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        _ = PrometheusSetup.registry
        return Counter(label: label, dimensions: dimensions)
    }

    /// Counts one throttle decision; ignored outcomes by reason.
    static func throttled(_ outcome: ThrottleOutcome) {
        counter("throttle_events_total", [("outcome", "tracked")]).increment()
        switch outcome {
        case .immediate, .deferred: counter("throttle_events_total", [("outcome", outcome.rawValue)]).increment()
        case .alreadyDeferred, .keyLimitReached, .duplicate:
            counter("throttle_events_total", [("outcome", "ignored"), ("reason", outcome.rawValue)]).increment()
        }
    }

    /// Counts summaries this process queued (seed 000's `processed`).
    static func summariesQueued(_ count: Int) {
        counter("throttle_processed_total").increment(by: count)
    }

    /// Counts rule changes this process applied.
    static func configUpdated() {
        counter("throttle_config_updated_total").increment()
    }

    /// Counts a store outcome (`stored`, `duplicate`, `dead_lettered`, `retry`, `retry_scheduled`, `fenced`).
    static func store(_ outcome: String, count: Int = 1) {
        counter("worker_events_total", [("outcome", outcome)]).increment(by: count)
    }

    /// Counts events placed in visits without state: the visit table was full
    /// (`VISITS_MAX_PER_BUCKET`, `VISITS_MAX_PER_SITE`) or the event was back-dated.
    static func visitUntracked(count: Int) {
        counter("visits_untracked_total").increment(by: count)
    }

    /// Records the circuit breaker opening or closing.
    static func breaker(open: Bool) {
        _ = PrometheusSetup.registry
        Gauge(label: "worker_breaker_open").record(open ? 1 : 0)
        if open { counter("worker_breaker_opened_total").increment() }
    }

    /// `GET /metrics` and `GET /healthz` (breaker state) on `host:port`, for each worker process;
    /// `/metrics` only for loopback clients or the bearer of `access`'s token.
    static func server(host: String, port: Int, access: MetricsAccess, breakers: [CircuitBreaker], logger: Logger) -> some Service {
        let router = Router(context: WorkerRequestContext.self)
        router.get("/healthz") { _, _ in
            let open = breakers.contains(where: \.isOpen)
            let failures = breakers.map(\.consecutiveFailures).max() ?? 0
            let body = JSONValue.object([
                ("status", .string(open ? "degraded" : "ok")), ("breaker", .string(open ? "open" : "closed")),
                ("consecutive_store_failures", .int(failures)),
            ])
            return Response(
                status: open ? .serviceUnavailable : .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: body.bytes)))
        }
        router.get("/metrics") { request, context in
            let allowed = access.allows(
                peer: context.remoteAddress?.ipAddress, authorization: request.headers[.authorization],
                forwarded: request.headers[HTTPFields.Element.Name("X-Forwarded-For")!] != nil)
            guard allowed else {
                return Response(
                    status: .forbidden, headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"success":false,"error":{"code":"FORBIDDEN","message":"metrics are served to loopback clients, or with Authorization: Bearer METRICS_TOKEN"}}"#)))
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: PrometheusSetup.text())))
        }
        return Application(
            router: router, server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, availableConnectionsDelegate: .maximum(64, logger: logger)),
            logger: logger)
    }
}

/// The worker metrics server's request context: Hummingbird's storage plus the peer address.
struct WorkerRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage.
    var coreContext: CoreRequestContextStorage
    /// The connected client.
    let remoteAddress: SocketAddress?

    /// Takes the peer address from the channel.
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
