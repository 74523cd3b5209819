import Foundation
import Hummingbird
import Metrics
import NIOCore
import Shared

/// `POST /event` and `POST /events`: validate, queue through group commit, answer 202.
struct EventController: Sendable {
    let enqueuer: Enqueuer
    let limits: RateLimitPolicy
    let validator = EventValidator()

    private let accepted = Counter(label: "events_accepted_total")

    /// Adds the routes to `router` (the CORS group): the posts and their preflights.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        router.post("/event") { request, context in try await self.ingestOne(request, context: context) }
        router.post("/events") { request, context in try await self.ingestBatch(request, context: context) }
        router.post("/api/event") { request, context in try await self.ingestPlausible(request, context: context) }
        for path in ["/event", "/events", "/api/event"] {
            router.on(RouterPath(path), method: .options) { _, _ in Response(status: .noContent) }
        }
    }

    /// One event: 202 once queued, 429 when a rate limit refuses it.
    func ingestOne(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let body = try await Self.readJSONBody(request, limit: EventValidator.maxEventBytes)
        var event: Event
        do {
            event = try validator.validateEvent(body.readableBytesView, now: Self.nowMillis())
        } catch {
            IngestMetrics.rejected(code: error.code)
            throw APIError.invalid(error)
        }
        let client = clientContext(request, context: context)
        if client.isBot {
            IngestMetrics.dropped(reason: "bot")
            return JSONBody.response(
                .accepted, .object([("success", .bool(true)), ("event_id", .string(event.eventID)), ("dropped", .string("bot"))]),
                headers: [.pipelineDropped: "bot"])
        }
        event.client = client.context
        guard let admission = try await enqueue([(0, event)], address: client.address, context: context).first else {
            throw APIError.unavailable("the queue gave no decision for the event; retry later")
        }
        guard admission.allowed else { throw APIError.rateLimited(admission) }
        return JSONBody.accepted(eventID: event.eventID, headers: RateLimitHeaders.fields(for: admission))
    }

    /// A batch: each valid event is queued unless a rate limit refuses it; the refused and the
    /// invalid are listed by index. 429 when every event was refused by a rate limit.
    func ingestBatch(_ request: Request, context: IngestRequestContext) async throws -> Response {
        let body = try await Self.readJSONBody(request, limit: EventValidator.maxBatchBytes)
        var results: [Result<Event, ValidationError>]
        do {
            results = try validator.validateBatch(body.readableBytesView, now: Self.nowMillis())
        } catch {
            IngestMetrics.rejected(code: error.code)
            throw APIError.invalid(error)
        }
        let client = clientContext(request, context: context)
        var events: [(index: Int, event: Event)] = []
        events.reserveCapacity(results.count)
        var rejected: [(index: Int, error: JSONValue)] = []
        for (index, result) in results.enumerated() {
            switch result {
            case .success(var event):
                event.client = client.context
                events.append((index, event))
            case .failure(let error):
                IngestMetrics.rejected(code: error.code)
                rejected.append((index, error.json))
            }
        }
        if client.isBot {
            IngestMetrics.dropped(reason: "bot", count: events.count)
            return JSONBody.response(.accepted, .object([
                ("success", .bool(true)), ("accepted", .int(0)), ("dropped", .int(events.count)),
                ("rejected", .array(rejected.map { .object([("index", .int($0.index)), ("error", $0.error)]) })),
            ]), headers: [.pipelineDropped: "bot"])
        }
        var queued = 0
        var lastRefusal: Admission?
        if !events.isEmpty {
            let admissions = try await enqueue(events, address: client.address, context: context)
            for (item, admission) in zip(events, admissions) {
                if admission.allowed {
                    queued += 1
                } else {
                    lastRefusal = admission
                    rejected.append((item.index, APIError.rateLimited(admission).detail.json))
                }
            }
        }
        if queued == 0, events.count == results.count, let lastRefusal {  // every event valid, every one refused
            throw APIError.rateLimited(lastRefusal)
        }
        return JSONBody.response(.accepted, .object([
            ("success", .bool(true)), ("accepted", .int(queued)),
            ("rejected", .array(rejected.sorted { $0.index < $1.index }.map { .object([("index", .int($0.index)), ("error", $0.error)]) })),
        ]))
    }

    /// Queues the events (those the rate limits allow) in one group-committed push. 503 when
    /// the queue cannot take them: `QUEUE_FULL` and `OVERLOADED` mean nothing was queued;
    /// `OUTCOME_UNKNOWN` means Redis may have queued them without confirming, and the answer
    /// lists each one's index in the request and event id, so a resend under those ids is stored once.
    func enqueue(_ indexed: [(index: Int, event: Event)], address: ClientAddress?, context: IngestRequestContext) async throws -> [Admission] {
        // No intermediate array of the batch's events: building one for a thousand `Event`s showed in the profile.
        let items = limits.items(for: indexed.lazy.map(\.event), address: address?.rateLimitKey)
        do {
            let admissions = try await enqueuer.enqueue(items)
            let allowed = admissions.filter(\.allowed).count
            accepted.increment(by: allowed)
            for admission in admissions where !admission.allowed {
                IngestMetrics.rejected(code: "RATE_LIMITED")
                IngestMetrics.rateLimited(admission.refusedBy ?? .site)
            }
            return admissions
        } catch .queueFull {
            IngestMetrics.rejected(code: "QUEUE_FULL", count: indexed.count)
            throw APIError.unavailable(
                "the queue is at its high-water mark (workers are behind); nothing was accepted, retry later", code: "QUEUE_FULL", retryAfter: 5)
        } catch .overloaded {
            IngestMetrics.rejected(code: "OVERLOADED", count: indexed.count)
            throw APIError.unavailable("too many events are waiting for the queue; nothing was accepted, retry later", code: "OVERLOADED")
        } catch .redis(let error) where error.mayHaveRun {
            context.logger.warning("queue push unconfirmed; the events may be queued", metadata: ["error": "\(error)", "events": "\(indexed.count)"])
            IngestMetrics.rejected(code: "OUTCOME_UNKNOWN", count: indexed.count)
            throw APIError.outcomeUnknown(events: indexed.map { ($0.index, $0.event.eventID) })
        } catch .redis(let error) {
            context.logger.warning("queue unavailable; nothing was queued", metadata: ["error": "\(error)"])
            IngestMetrics.rejected(code: "SERVICE_UNAVAILABLE", count: indexed.count)
            throw APIError.unavailable("the queue is unavailable; nothing was accepted, retry later")
        }
    }

    /// Reads the body of a JSON (or `text/plain` holding JSON, as `sendBeacon` sends) request.
    /// Every header is the client's: a malformed `Content-Type` is a 415, never a trap.
    static func readJSONBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let type = request.headers[.contentType] {
            guard let essence = MediaType.essence(of: type) else {
                IngestMetrics.rejected(code: "UNSUPPORTED_MEDIA_TYPE")
                throw APIError.unsupportedMediaType(nil)
            }
            guard MediaType.isJSONCompatible(essence) else {
                IngestMetrics.rejected(code: "UNSUPPORTED_MEDIA_TYPE")
                throw APIError.unsupportedMediaType(essence)
            }
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            IngestMetrics.rejected(code: "PAYLOAD_TOO_LARGE")
            throw APIError.tooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            IngestMetrics.rejected(code: "PAYLOAD_TOO_LARGE")
            throw APIError.tooLarge(limit: limit)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) past the limit: too large, not broken.
            IngestMetrics.rejected(code: "PAYLOAD_TOO_LARGE")
            throw APIError.tooLarge(limit: limit)
        } catch {
            // Broken framing (a bad chunk size, the connection closed mid-body): the client's
            // fault, answered 400 and not logged as ours.
            IngestMetrics.rejected(code: "MALFORMED_BODY")
            throw APIError(status: .badRequest, detail: ValidationError(code: "MALFORMED_BODY", message: "the request body could not be read: its framing is broken"))
        }
    }

    static func nowMillis() -> Int64 {
        Timestamp.nowMillis()
    }
}
