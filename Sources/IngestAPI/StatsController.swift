import Hummingbird
import Logging
import Shared

/// `GET /stats?site_id=&date=YYYY-MM-DD[&limit=]`: seed 004's answer, aggregated on read.
/// Queries run through a bounded gate (as many at once as there are MongoDB clients, a short
/// line behind them, 503 past it) and with `maxTimeMS`, so slow queries cannot pile up.
struct StatsController: Sendable {
    let store: MongoStore
    /// At most this many queries at once, a few more waiting; the rest get 503 at once.
    let gate: BoundedGate
    /// Longest a query may run in MongoDB.
    let maxTime: Duration
    /// Asks for an API key when `STATS_REQUIRE_KEY=true`; keyless otherwise, as seed 004.
    let access: StatsAccess

    /// The query engine every stats route shares.
    var engine: QueryEngine { QueryEngine(store: store, maxTime: maxTime, logger: Logger(label: "stats")) }

    /// Adds the route to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/stats") { request, context in try await self.stats(request, context: context) }
    }

    func stats(_ request: Request, context: some RequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let query: StatsQuery
        do {
            query = try StatsQuery(
                siteID: parameters.get("site_id"), date: parameters.get("date"), limit: parameters.get("limit"))
        } catch {
            throw APIError.invalid(error)
        }
        _ = try await access.authorizeSeedStats(request, siteID: query.siteID)
        let report: StatsReport
        do {
            let result = try await gate.run { [engine] in try await engine.run(query.request) }
            report = query.report(from: result)
        } catch is BoundedGate.Refusal {
            throw APIError.unavailable("too many stats queries at once; retry later")
        } catch let error as QueryError {
            throw error.isRetryable
                ? APIError.unavailable(error.message)
                : APIError.invalid(ValidationError(code: "QUERY_REFUSED", message: error.message))
        } catch let error as MongoError where error.isTransient {
            context.logger.warning("stats: MongoDB unavailable or too slow", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the event store is unavailable or the query took too long; retry later", retryAfter: 5)
        }
        return JSONBody.response(.ok, .object([("success", .bool(true)), ("stats", report.json)]))
    }
}
