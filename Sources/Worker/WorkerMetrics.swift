import Hummingbird
import Logging
import Metrics
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

    /// Records the circuit breaker opening or closing.
    static func breaker(open: Bool) {
        _ = PrometheusSetup.registry
        Gauge(label: "worker_breaker_open").record(open ? 1 : 0)
        if open { counter("worker_breaker_opened_total").increment() }
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
