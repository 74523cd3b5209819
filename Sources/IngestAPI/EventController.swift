import Foundation
import Hummingbird
import Metrics
import Shared

/// `POST /event` and `POST /events`: validate, queue through group commit, answer 202.
struct EventController: Sendable {
    let enqueuer: Enqueuer
    let validator = EventValidator()

    private let accepted = Counter(label: "events_accepted_total")

    /// Adds the routes to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.post("/event") { request, context in try await self.ingestOne(request, context: context) }
        router.post("/events") { request, context in try await self.ingestBatch(request, context: context) }
    }

    func ingestOne(_ request: Request, context: some RequestContext) async throws -> Response {
        let body = try await Self.readJSONBody(request, limit: EventValidator.maxEventBytes)
        let event: Event
        do {
            event = try validator.validateEvent(body.readableBytesView, now: Self.nowMillis())
        } catch {
            IngestMetrics.rejected(code: error.code)
            throw APIError.invalid(error)
        }
        try await enqueue([event])
        return JSONBody.response(.accepted, .object([("success", .bool(true)), ("event_id", .string(event.eventID))]))
    }

    func ingestBatch(_ request: Request, context: some RequestContext) async throws -> Response {
        let body = try await Self.readJSONBody(request, limit: EventValidator.maxBatchBytes)
        let results: [Result<Event, ValidationError>]
        do {
            results = try validator.validateBatch(body.readableBytesView, now: Self.nowMillis())
        } catch {
            IngestMetrics.rejected(code: error.code)
            throw APIError.invalid(error)
        }
        var events: [Event] = []
        var rejected: [JSONValue] = []
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let event): events.append(event)
            case .failure(let error):
                IngestMetrics.rejected(code: error.code)
                rejected.append(.object([("index", .int(index)), ("error", error.json)]))
            }
        }
        if !events.isEmpty { try await enqueue(events) }
        return JSONBody.response(.accepted, .object([
            ("success", .bool(true)), ("accepted", .int(events.count)), ("rejected", .array(rejected)),
        ]))
    }

    /// Queues the events in one push; 503 when Redis does not confirm.
    private func enqueue(_ events: [Event]) async throws {
        let payloads = events.map(\.queuePayload)
        do {
            _ = try await enqueuer.enqueue(payloads)
            accepted.increment(by: events.count)
        } catch {
            IngestMetrics.rejected(code: "SERVICE_UNAVAILABLE", count: events.count)
            throw APIError.unavailable("the queue is unavailable, nothing was accepted; retry later (\(error))")
        }
    }

    /// Reads the body of a JSON (or `text/plain` holding JSON, as `sendBeacon` sends) request.
    static func readJSONBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let type = request.headers[.contentType] {
            let mediaType = type.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces).lowercased()
            guard mediaType == "application/json" || mediaType == "text/plain" || mediaType.hasSuffix("+json") else {
                IngestMetrics.rejected(code: "UNSUPPORTED_MEDIA_TYPE")
                throw APIError.unsupportedMediaType(mediaType)
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
        }
    }

    static func nowMillis() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
