import Hummingbird
import Metrics
import Prometheus
import Shared

/// `GET /healthz` (Redis, MongoDB, queue depth) and `GET /metrics` (Prometheus text). Health
/// comes from one shared, recent check (`HealthCheck`), so probes never pile up and are never
/// refused; `/metrics` (loopback or token only) runs through a small gate.
struct HealthController: Sendable {
    let queue: ReliableQueue
    let registry: PrometheusCollectorRegistry
    /// The queue's high-water mark (0: none); at or above it the API is degraded.
    var queueMax = 0
    /// The shared check of Redis and MongoDB.
    let check: HealthCheck
    /// At most a few `/metrics` scrapes at once; the rest wait briefly or are refused.
    let metricsGate: BoundedGate
    /// Who may read `/metrics`.
    let metricsAccess: MetricsAccess
    /// Longest wait for Redis's pipeline-wide counters in a scrape.
    var countersDeadline: Duration = .seconds(2)

    /// Adds the routes to `router`.
    func addRoutes(to router: Router<IngestRequestContext>) {
        router.get("/healthz") { _, _ in await self.health() }
        router.get("/metrics") { request, context in
            let allowed = metricsAccess.allows(
                peer: context.remoteAddress?.ipAddress, authorization: request.headers[.authorization],
                forwarded: HTTPFields.Element.Name.proxyHeaders.contains { request.headers[$0] != nil })
            guard allowed else {
                throw APIError(
                    status: .forbidden,
                    detail: ValidationError(code: "FORBIDDEN", message: "metrics are served to loopback clients, or with Authorization: Bearer METRICS_TOKEN"))
            }
            do {
                return try await metricsGate.run { await self.metrics() }
            } catch is BoundedGate.Refusal {
                throw APIError.unavailable("too many metrics scrapes at once; retry later")
            }
        }
    }

    /// 200 when Redis and MongoDB answer and the queue is below its high-water mark, else 503;
    /// with the queue depth and the number of dead letters.
    func health() async -> Response {
        let snapshot = await check.current()
        record(snapshot)
        let full = queueMax > 0 && (snapshot.queueDepth ?? 0) >= queueMax
        let redis = snapshot.queueDepth != nil
        let healthy = redis && snapshot.mongo && !full
        let answer: JSONValue = .object([
            ("status", .string(healthy ? "ok" : "degraded")), ("redis", .string(redis ? "ok" : "unreachable")),
            ("mongo", .string(snapshot.mongo ? "ok" : "unreachable")), ("queue_depth", snapshot.queueDepth.map { .int($0) } ?? .null),
            ("queue_full", .bool(full)), ("dead_letters", snapshot.deadLetters.map { .int($0) } ?? .null),
        ])
        return JSONBody.response(healthy ? .ok : .serviceUnavailable, answer)
    }

    /// This process's metrics, then the pipeline-wide counters from Redis (all workers and API
    /// instances together) when Redis answers in time.
    func metrics() async -> Response {
        record(await check.current())
        let read = Task { [queue] in try? await Throttle(redis: queue.redis, keys: queue.keys).counters() }  // not cancelled: see HealthCheck
        let counters = (try? await withDeadline(countersDeadline) { await read.value }) ?? nil
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        if let counters {
            buffer += Array(PrometheusSetup.pipelineText(counters: counters).utf8)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }

    private func record(_ snapshot: HealthSnapshot) {
        if let depth = snapshot.queueDepth { IngestMetrics.queueDepth.record(depth) }
        if let dead = snapshot.deadLetters { IngestMetrics.deadLetters.record(dead) }
    }
}
