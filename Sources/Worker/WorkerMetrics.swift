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
        case .alreadyDeferred, .keyLimitReached:
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

    /// `GET /metrics` on `port`, for scraping each worker process.
    static func server(port: Int, logger: Logger) -> some Service {
        let router = Router()
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: PrometheusSetup.text())))
        }
        return Application(router: router, configuration: .init(address: .hostname("0.0.0.0", port: port), serverName: nil), logger: logger)
    }
}
