import Hummingbird
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import Shared

/// `GET /healthz` (Redis, MongoDB, queue depth) and `GET /metrics` (Prometheus text).
struct HealthController: Sendable {
    let queue: ReliableQueue
    let store: MongoStore
    let registry: PrometheusCollectorRegistry
    /// The queue's high-water mark (0: none); at or above it the API is degraded.
    var queueMax = 0

    /// Adds the routes to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/healthz") { _, _ in await self.health() }
        router.get("/metrics") { _, _ in await self.metrics() }
    }

    /// 200 when Redis and MongoDB answer and the queue is below its high-water mark, else 503;
    /// with the queue depth and the number of dead letters.
    func health() async -> Response {
        async let mongoOK = withDeadline(.seconds(2)) { [store] in try await store.ping() }
        let queueDepth = try? await queue.depth()
        let deadLetters = try? await queue.deadLetterCount()
        let mongo = await mongoOK
        if let queueDepth { IngestMetrics.queueDepth.record(queueDepth) }
        if let deadLetters { IngestMetrics.deadLetters.record(deadLetters) }
        let full = queueMax > 0 && (queueDepth ?? 0) >= queueMax
        let healthy = queueDepth != nil && mongo && !full
        let answer: JSONValue = .object([
            ("status", .string(healthy ? "ok" : "degraded")), ("redis", .string(queueDepth != nil ? "ok" : "unreachable")),
            ("mongo", .string(mongo ? "ok" : "unreachable")), ("queue_depth", queueDepth.map { .int($0) } ?? .null),
            ("queue_full", .bool(full)), ("dead_letters", deadLetters.map { .int($0) } ?? .null),
        ])
        return JSONBody.response(healthy ? .ok : .serviceUnavailable, answer)
    }

    /// This process's metrics, then the pipeline-wide counters from Redis (all workers and API
    /// instances together) when Redis answers.
    func metrics() async -> Response {
        if let queueDepth = try? await queue.depth() { IngestMetrics.queueDepth.record(queueDepth) }
        if let deadLetters = try? await queue.deadLetterCount() { IngestMetrics.deadLetters.record(deadLetters) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        if let counters = try? await Throttle(redis: queue.redis, keys: queue.keys).counters() {
            buffer += Array(PrometheusSetup.pipelineText(counters: counters).utf8)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
    }
}

/// True if `body` finished without error within `limit`. The body is not awaited past the
/// limit: a blocked libmongoc call keeps its own thread, not the health check.
func withDeadline(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Void) async -> Bool {
    let resumed = NIOLockedValueBox(false)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        @Sendable func finish(_ value: Bool) {
            let first = resumed.withLockedValue { done in
                defer { done = true }
                return !done
            }
            if first { continuation.resume(returning: value) }
        }
        Task { finish((try? await body()) != nil) }
        Task {
            try? await Task.sleep(for: limit)
            finish(false)
        }
    }
}
