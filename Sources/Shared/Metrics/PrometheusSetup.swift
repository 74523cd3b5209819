import Metrics
import Prometheus

/// The process-wide Prometheus registry behind swift-metrics, and the pipeline-wide counters
/// kept in Redis written in the same text format.
public enum PrometheusSetup {
    /// Bootstraps swift-metrics on first use; later uses get the same registry.
    public static let registry: PrometheusCollectorRegistry = {
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

    /// This process's metrics as Prometheus text.
    public static func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// `hb.requests` → `hb_requests`: Prometheus names allow only `[a-zA-Z0-9_:]`. Runs for every
    /// metric handle made, so valid names are returned without a copy.
    public static func prometheusName(_ name: String) -> String {
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

    /// The pipeline-wide counters (all workers and API instances together, from
    /// `Throttle.counters()`) as Prometheus text.
    public static func pipelineText(counters: [String: Int]) -> String {
        func value(_ name: String) -> Int { counters[name] ?? 0 }
        var lines = [
            "# HELP pipeline_throttle_events_total Throttle decisions of all workers, by outcome (ignored by reason).",
            "# TYPE pipeline_throttle_events_total counter",
            #"pipeline_throttle_events_total{outcome="tracked"} \#(value("tracked"))"#,
            #"pipeline_throttle_events_total{outcome="immediate"} \#(value("immediate"))"#,
            #"pipeline_throttle_events_total{outcome="deferred"} \#(value("deferred"))"#,
            #"pipeline_throttle_events_total{outcome="ignored",reason="already_deferred"} \#(value("already_deferred"))"#,
            #"pipeline_throttle_events_total{outcome="ignored",reason="key_limit_reached"} \#(value("key_limit_reached"))"#,
            "# HELP pipeline_throttle_processed_total Deferral records turned into summary documents.",
            "# TYPE pipeline_throttle_processed_total counter",
            "pipeline_throttle_processed_total \(value("processed"))",
            "# HELP pipeline_throttle_config_updated_total Throttle and rate-limit rules set or deleted at runtime.",
            "# TYPE pipeline_throttle_config_updated_total counter",
            "pipeline_throttle_config_updated_total \(value("config_updated"))",
            "# HELP pipeline_rate_limited_total Events refused with 429 by all API instances, by scope.",
            "# TYPE pipeline_rate_limited_total counter",
        ]
        for scope in ["site", "user", "address"] {
            lines.append(#"pipeline_rate_limited_total{scope="\#(scope)"} \#(value("rate_limited:" + scope))"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
