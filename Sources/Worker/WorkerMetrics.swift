import Hummingbird
import Logging
import Metrics
import ServiceLifecycle
import Shared

/// This worker process's metrics (swift-metrics, Prometheus text on `WORKER_METRICS_PORT`).
enum WorkerMetrics {
    /// Counts one throttle decision; ignored outcomes by reason.
    static func throttled(_ outcome: ThrottleOutcome) {
        _ = PrometheusSetup.registry
        Counter(label: "throttle_events_total", dimensions: [("outcome", "tracked")]).increment()
        switch outcome {
        case .immediate, .deferred: Counter(label: "throttle_events_total", dimensions: [("outcome", outcome.rawValue)]).increment()
        case .alreadyDeferred, .keyLimitReached, .duplicate:
            Counter(label: "throttle_events_total", dimensions: [("outcome", "ignored"), ("reason", outcome.rawValue)]).increment()
        }
    }

    /// Counts summaries this process queued (seed 000's `processed`).
    static func summariesQueued(_ count: Int) {
        _ = PrometheusSetup.registry
        Counter(label: "throttle_processed_total").increment(by: count)
    }

    /// Counts rule changes this process applied.
    static func configUpdated() {
        _ = PrometheusSetup.registry
        Counter(label: "throttle_config_updated_total").increment()
    }

    /// Counts a store outcome (`stored`, `duplicate`, `dead_lettered`, `retry`).
    static func store(_ outcome: String, count: Int = 1) {
        _ = PrometheusSetup.registry
        Counter(label: "worker_events_total", dimensions: [("outcome", outcome)]).increment(by: count)
    }

    /// Records the circuit breaker opening or closing.
    static func breaker(open: Bool) {
        _ = PrometheusSetup.registry
        Gauge(label: "worker_breaker_open").record(open ? 1 : 0)
        if open { Counter(label: "worker_breaker_opened_total").increment() }
    }

    /// `GET /metrics` and `GET /healthz` (breaker state) on `port`, for each worker process.
    static func server(port: Int, breakers: [CircuitBreaker], logger: Logger) -> some Service {
        let router = Router()
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
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: PrometheusSetup.text())))
        }
        return Application(router: router, configuration: .init(address: .hostname("0.0.0.0", port: port), serverName: nil), logger: logger)
    }
}
