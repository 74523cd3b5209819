import Hummingbird
import Metrics
import Prometheus
import Shared

/// `GET /healthz` (Redis, MongoDB, queue depth) and `GET /metrics` (Prometheus text). Both run
/// through a bounded gate and under deadlines, so a stalled Redis or MongoDB cannot pile up
/// checks: past the gate they answer 503 at once.
struct HealthController: Sendable {
    let queue: ReliableQueue
    let store: MongoStore
    let registry: PrometheusCollectorRegistry
    /// The queue's high-water mark (0: none); at or above it the API is degraded.
    var queueMax = 0
    /// At most a few checks at once; the rest wait briefly or are refused.
    let gate: BoundedGate
    /// Who may read `/metrics`.
    let metricsAccess: MetricsAccess
    /// Longest wait for each of Redis and MongoDB in a check.
    var checkDeadline: Duration = .seconds(2)

    /// Adds the routes to `router`.
    func addRoutes(to router: Router<IngestRequestContext>) {
        router.get("/healthz") { _, _ in try await self.gated { await self.health() } }
        router.get("/metrics") { request, context in
            let allowed = metricsAccess.allows(
                peer: context.remoteAddress?.ipAddress, authorization: request.headers[.authorization],
                forwarded: request.headers[.xForwardedFor] != nil)
            guard allowed else {
                throw APIError(
                    status: .forbidden,
                    detail: ValidationError(code: "FORBIDDEN", message: "metrics are served to loopback clients, or with Authorization: Bearer METRICS_TOKEN"))
            }
            return try await self.gated { await self.metrics() }
        }
    }

    private func gated(_ body: @Sendable () async -> Response) async throws -> Response {
        do {
            return try await gate.run { await body() }
        } catch is BoundedGate.Refusal {
            throw APIError.unavailable("too many health checks at once; retry later")
        }
    }

    /// 200 when Redis and MongoDB answer and the queue is below its high-water mark, else 503;
    /// with the queue depth and the number of dead letters.
    func health() async -> Response {
        async let mongoOK = (try? withDeadline(checkDeadline) { [store] in try await store.ping() }) != nil
        let counts = try? await withDeadline(checkDeadline) { [queue] in (try await queue.depth(), try await queue.deadLetterCount()) }
        let mongo = await mongoOK
        if let counts {
            IngestMetrics.queueDepth.record(counts.0)
            IngestMetrics.deadLetters.record(counts.1)
        }
        let full = queueMax > 0 && (counts?.0 ?? 0) >= queueMax
        let healthy = counts != nil && mongo && !full
        let answer: JSONValue = .object([
            ("status", .string(healthy ? "ok" : "degraded")), ("redis", .string(counts != nil ? "ok" : "unreachable")),
            ("mongo", .string(mongo ? "ok" : "unreachable")), ("queue_depth", counts.map { .int($0.0) } ?? .null),
            ("queue_full", .bool(full)), ("dead_letters", counts.map { .int($0.1) } ?? .null),
        ])
        return JSONBody.response(healthy ? .ok : .serviceUnavailable, answer)
    }

    /// This process's metrics, then the pipeline-wide counters from Redis (all workers and API
    /// instances together) when Redis answers in time.
    func metrics() async -> Response {
        let snapshot = try? await withDeadline(checkDeadline) { [queue] in
            (try await queue.depth(), try await queue.deadLetterCount(), try await Throttle(redis: queue.redis, keys: queue.keys).counters())
        }
        if let snapshot {
            IngestMetrics.queueDepth.record(snapshot.0)
            IngestMetrics.deadLetters.record(snapshot.1)
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        if let counters = snapshot?.2 {
            buffer += Array(PrometheusSetup.pipelineText(counters: counters).utf8)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}
