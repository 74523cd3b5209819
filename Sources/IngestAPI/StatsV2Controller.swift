import Hummingbird
import Logging
import NIOCore
import Shared

/// `POST /api/v2/query`: Plausible's Stats API v2 over the query engine. The body (at most
/// `StatsQueryJSON.maxBodyBytes`) is read first for its `site_id`, access is checked, then the
/// query (`StatsV2Query`, `StatsV2Plan`). Engine work runs through the shared stats gate.
/// Errors are Plausible's `{"error": "…"}`.
struct StatsV2Controller: Sendable {
    /// The query engine.
    let engine: QueryEngine
    /// Who may read which site.
    let access: StatsAccess
    /// Stats queries at once and queued, shared with every stats route.
    let gate: BoundedGate
    /// The clock date ranges are resolved against.
    var now: @Sendable () -> Int64 = { Timestamp.nowMillis() }

    /// Adds the route to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.post("/api/v2/query") { request, context in try await self.query(request, context: context) }
    }

    /// One query.
    func query(_ request: Request, context: some RequestContext) async throws -> Response {
        let body: StatsQueryJSON
        do {
            let buffer = try await request.body.collect(upTo: StatsQueryJSON.maxBodyBytes)
            body = try StatsQueryJSON.parse(Array(buffer.readableBytesView))
        } catch let error as StatsAPIError {
            throw StatsRefusal(error)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw StatsRefusal(.contentTooLarge, "Invalid request body: at most \(StatsQueryJSON.maxBodyBytes) bytes are accepted.")
        } catch is NIOTooManyBytesError {
            // A streamed body past the limit (what a live server raises): too large, not a 500.
            throw StatsRefusal(.contentTooLarge, "Invalid request body: at most \(StatsQueryJSON.maxBodyBytes) bytes are accepted.")
        } catch {
            // Broken framing or a connection closed mid-body: the client's fault, not ours.
            throw StatsRefusal(.badRequest, "Invalid request body: it could not be read; send one JSON object.")
        }
        let site = try await access.authorize(request, siteID: StatsV2Query.siteID(of: body), scope: APIScope.statsRead)
        let calendar = SiteCalendar(timeZone: site.timeZone) ?? .utc
        let engine = self.engine
        let query: StatsV2Query
        do {
            query = try StatsV2Query(body)
        } catch {
            throw StatsRefusal(error)
        }
        // `all` starts at the site's first day with stats: its creation, or its first event when
        // events came before the site was added (they are accepted for sites not added yet).
        var statsStart = site.createdAt > 0 ? site.createdAt : nil
        if query.dateRange == .named("all"),
           let first = try await StatsRefusal.guarded(context, { try await gate.run { try await engine.firstEventTime(siteID: site.domain) } })
        {
            // A backdated event (a device with a reset clock) must not push `all` past the
            // longest period answered: no earlier than that many days before now.
            let earliest = now() - Int64(StatsQueryRules.maxRangeDays - 1) * 86_400_000
            statsStart = min(statsStart ?? first, max(first, earliest))
        }
        let plan: StatsV2Plan
        do {
            plan = try query.plan(calendar: calendar, now: now(), statsStart: statsStart.map(calendar.localDate(of:)))
        } catch {
            throw StatsRefusal(error)
        }
        let result = try await StatsRefusal.guarded(context) {
            try await gate.run { try await engine.run(plan.request) }
        }
        return JSONBody.response(.ok, plan.render(result))
    }
}
