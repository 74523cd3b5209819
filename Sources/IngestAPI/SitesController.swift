import Hummingbird
import Shared

/// The read-only part of Plausible's Sites API, so the dashboard can offer a site picker and
/// count each site's days in its time zone:
///
/// - `GET /api/v1/sites/{site_id}`: `{"domain", "timezone"}`, to whoever may read the site's
///   stats (a public site: anyone; otherwise a key covering it). A site never added reads as UTC.
/// - `GET /api/v1/sites`: `{"sites": [{"domain", "timezone"}, …], "meta": {"limit"}}`, the sites
///   the bearer key may read, by domain, at most `maxSites`. A key is required.
///
/// Both count against the key's rate limit and answer errors as the Stats API does, `{"error": "…"}`.
struct SitesController: Sendable {
    /// Who may read which site.
    let access: StatsAccess

    /// Most sites one list answers; a key of all sites over a larger directory gets the first, by domain.
    static let maxSites = 1_000

    /// Adds the two routes to `router`.
    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/api/v1/sites") { request, _ in try await self.list(request) }
        router.get("/api/v1/sites/{site_id}") { request, context in try await self.site(request, siteID: context.parameters.get("site_id")) }
    }

    /// One site's domain and time zone.
    func site(_ request: Request, siteID: String?) async throws(StatsAccessError) -> Response {
        let site = try await access.authorize(request, siteID: siteID, scope: APIScope.statsRead)
        return JSONBody.response(.ok, Self.json(site))
    }

    /// The sites the key may read.
    func list(_ request: Request) async throws(StatsAccessError) -> Response {
        let key = try await access.authorizeKey(request, scope: APIScope.statsRead)
        let sites = try await access.readableSites(by: key, limit: Self.maxSites)
        return JSONBody.response(.ok, .object([
            ("sites", .array(sites.map(Self.json))), ("meta", .object([("limit", .int(Self.maxSites))])),
        ]))
    }

    /// A site as Plausible's Sites API writes it.
    static func json(_ site: Site) -> JSONValue {
        .object([("domain", .string(site.domain)), ("timezone", .string(site.timeZone))])
    }
}
