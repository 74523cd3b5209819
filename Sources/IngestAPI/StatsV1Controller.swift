import Hummingbird
import Logging
import Shared

/// Plausible's Stats API v1 over the query engine:
///
/// - `GET /api/v1/stats/realtime/visitors?site_id=`: visitors of the last 5 minutes, a bare number.
/// - `GET /api/v1/stats/aggregate`, `/timeseries`, `/breakdown`: `site_id`, `period`, `date`,
///   `metrics`, `filters`, `property`, `interval`, `limit`, `page`, `compare`, answered in
///   Plausible's shapes (`StatsV1Query`, `StatsV1Plan`).
///
/// Access is checked first (401 before 400, as Plausible answers). Engine work runs through the
/// stats gate shared with `/stats` (503 when full). Errors are Plausible's `{"error": "…"}`.
struct StatsV1Controller: Sendable {
    /// The query engine.
    let engine: QueryEngine
    /// Who may read which site.
    let access: StatsAccess
    /// Stats queries at once and queued, shared with every stats route.
    let gate: BoundedGate
    /// The clock periods are resolved against.
    var now: @Sendable () -> Int64 = { Timestamp.nowMillis() }

    /// Adds the four routes to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/api/v1/stats/realtime/visitors") { request, context in try await self.realtime(request, context: context) }
        router.get("/api/v1/stats/aggregate") { request, context in try await self.answer(.aggregate, request, context: context) }
        router.get("/api/v1/stats/timeseries") { request, context in try await self.answer(.timeseries, request, context: context) }
        router.get("/api/v1/stats/breakdown") { request, context in try await self.answer(.breakdown, request, context: context) }
    }

    /// The current visitors, as a bare JSON number.
    func realtime(_ request: Request, context: some RequestContext) async throws -> Response {
        let site = try await access.authorize(request, siteID: request.uri.queryParameters.get("site_id"), scope: APIScope.statsRead)
        let (engine, now) = (engine, now())
        let visitors = try await StatsRefusal.guarded(context) {
            try await gate.run { try await engine.realtimeVisitors(siteID: site.domain, now: now) }
        }
        return JSONBody.response(.ok, .int(visitors))
    }

    /// An aggregate, time series or breakdown.
    func answer(_ endpoint: StatsV1Query.Endpoint, _ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = Self.parameters(request)
        let site = try await access.authorize(request, siteID: parameters["site_id"], scope: APIScope.statsRead)
        let calendar = SiteCalendar(timeZone: site.timeZone) ?? .utc
        let plan: StatsV1Plan
        do {
            plan = try StatsV1Query(endpoint, parameters: parameters).plan(calendar: calendar, now: now())
        } catch {
            throw StatsRefusal(error)
        }
        let engine = self.engine
        let (result, previous) = try await StatsRefusal.guarded(context) {
            try await gate.run {
                let result = try await engine.run(plan.request)
                var previous: StatsResult?
                if let earlier = plan.previous { previous = try await engine.run(earlier) }
                return (result, previous)
            }
        }
        return JSONBody.response(.ok, plan.render(result, previous: previous))
    }

    /// The query parameters by name; of a repeated name, the first.
    static func parameters(_ request: Request) -> [String: String] {
        var parameters: [String: String] = [:]
        for (name, value) in request.uri.queryParameters where parameters[String(name)] == nil {
            parameters[String(name)] = String(value)
        }
        return parameters
    }
}

/// A Stats API refusal answered in Plausible's shape, `{"error": "…"}`, with its status.
struct StatsRefusal: HTTPResponseError {
    /// The status.
    let status: HTTPResponse.Status
    /// What is wrong, for the client.
    let message: String
    /// `Retry-After` on 503.
    var headers: HTTPFields = [:]

    /// A refusal with `status` and `message`; `Retry-After` when given.
    init(_ status: HTTPResponse.Status, _ message: String, retryAfter seconds: Int? = nil) {
        self.status = status
        self.message = message
        if let seconds { headers[.retryAfter] = String(seconds) }
    }

    /// A parsing or planning refusal, with its status.
    init(_ error: StatsAPIError) {
        self.init(HTTPResponse.Status(code: error.status), error.message)
    }

    /// The status and `{"error": message}`.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(status, .object([("error", .string(message))]), headers: headers)
    }

    /// Runs engine work: a full gate and a slow or unreachable store are 503, a question the
    /// engine refuses is 400, any other store failure 500 (logged).
    static func guarded<T>(_ context: some RequestContext, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch is BoundedGate.Refusal {
            throw StatsRefusal(.serviceUnavailable, "Too many stats queries at once. Retry in a few seconds.", retryAfter: 2)
        } catch let error as QueryError {
            throw error.isRetryable ? StatsRefusal(.serviceUnavailable, error.message, retryAfter: 1) : StatsRefusal(.badRequest, error.message)
        } catch let error as MongoError {
            if error.isTransient {
                context.logger.warning("stats api: MongoDB unavailable or too slow", metadata: ["error": "\(error)"])
                throw StatsRefusal(.serviceUnavailable, "The event store is unavailable or the query took too long. Retry later, or narrow the period.", retryAfter: 5)
            }
            context.logger.error("stats api: MongoDB failed", metadata: ["error": "\(error)"])
            throw StatsRefusal(.internalServerError, "Internal error; it has been logged.")
        }
    }
}
