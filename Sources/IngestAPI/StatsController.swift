import Hummingbird
import Shared

/// `GET /stats?site_id=&date=YYYY-MM-DD[&limit=]`: seed 004's answer, aggregated on read.
struct StatsController: Sendable {
    let store: MongoStore

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
        let report: StatsReport
        do {
            report = try query.report(fromAggregate: try await store.aggregate(pipelineJSON: query.pipelineJSON))
        } catch let error as MongoError where error.isTransient {
            context.logger.warning("stats: MongoDB unavailable", metadata: ["error": "\(error)"])
            throw APIError.unavailable("the event store is unavailable; retry later", retryAfter: 5)
        }
        return JSONBody.response(.ok, .object([("success", .bool(true)), ("stats", report.json)]))
    }
}
