import Hummingbird
import Shared

/// What ingest keeps of a request for the worker's enrichment, and whether its user agent is a bot.
struct CapturedClient {
    /// The address, user agent and page URL, queued with the event.
    var context: ClientContext
    /// The client's address, parsed once: rate limits count it too.
    var address: ClientAddress?
    /// A crawler, monitor or automated browser by its user agent: the event is not queued.
    var isBot: Bool
}

extension EventController {
    /// `POST /api/event`, the Plausible Events API: `202 {}` once queued; bots, rate-limited
    /// events and Plausible's `engagement` events are answered `202` with `X-Plausible-Dropped: 1`,
    /// as Plausible answers them. Errors use Plausible's shape, `{"errors":{field:[message]}}`.
    func ingestPlausible(_ request: Request, context: IngestRequestContext) async throws -> Response {
        do {
            let body = try await Self.readJSONBody(request, limit: EventValidator.maxEventBytes)
            let parsed: PlausibleEvent
            do {
                parsed = try validator.validatePlausible(body.readableBytesView, now: Self.nowMillis())
            } catch {
                IngestMetrics.rejected(code: error.code)
                throw APIError.invalid(error)
            }
            if parsed.isEngagement {
                IngestMetrics.dropped(reason: "engagement", count: parsed.sites)
                return Self.plausibleDropped(parsed.sites)
            }
            // The Events API requires the visitor's User-Agent: an event without one is dropped.
            let client = clientContext(request, context: context, requireUserAgent: true)
            if client.isBot {
                IngestMetrics.dropped(reason: "bot", count: parsed.events.count)
                return Self.plausibleDropped(parsed.events.count)
            }
            var indexed: [(index: Int, event: Event)] = []
            for (index, var event) in parsed.events.enumerated() {
                event.client?.ip = client.context.ip
                event.client?.ua = client.context.ua
                indexed.append((index, event))
            }
            let admissions = try await enqueue(indexed, address: client.address, context: context)
            let refused = admissions.filter { !$0.allowed }.count
            if refused > 0 { return Self.plausibleDropped(refused) }
            return JSONBody.response(.accepted, .object([]))
        } catch let error as APIError {
            throw PlausibleError(error)
        }
    }

    /// The request's address (behind `TRUST_PROXY`, the forwarded one) in full, its user agent,
    /// and for `/event` the page it came from (`Referer`, else `Origin`), bounded.
    func clientContext(_ request: Request, context: IngestRequestContext, requireUserAgent: Bool = false) -> CapturedClient {
        let address = limits.clientAddress(request, peer: context.remoteAddress)
        let userAgent = request.headers[.userAgent]
        let page = (request.headers[.referer] ?? request.headers[.origin]).flatMap { $0.utf8.count <= EventValidator.maxURLBytes ? $0 : nil }
        let isBot: Bool
        if let userAgent, !userAgent.isEmpty {
            isBot = UserAgentClassifier.isBot(userAgent)
        } else {
            isBot = requireUserAgent
        }
        return CapturedClient(context: ClientContext(ip: address?.text, ua: userAgent, url: page), address: address, isBot: isBot)
    }

    /// `202 {}` with `X-Plausible-Dropped: <events dropped>`.
    static func plausibleDropped(_ count: Int) -> Response {
        JSONBody.response(.accepted, .object([]), headers: [.plausibleDropped: String(count)])
    }
}

/// An `APIError` answered in the Plausible Events API's shape: `{"errors":{"url":["…"]}}`,
/// keyed by the field at fault, or `request` when no single field is; members an answer adds
/// (the `events` of `OUTCOME_UNKNOWN`, to resend under their ids) follow `errors`.
struct PlausibleError: HTTPResponseError {
    /// The error in our own terms.
    let error: APIError

    init(_ error: APIError) { self.error = error }

    var status: HTTPResponse.Status { error.status }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let field = error.detail.field ?? "request"
        return JSONBody.response(
            error.status, .object([("errors", .object([(field, .array([.string(error.detail.message)]))]))] + error.extra), headers: error.headers)
    }
}
