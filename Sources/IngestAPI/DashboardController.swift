import Hummingbird

/// The dashboard: `GET`/`HEAD /` answers its page, `/dashboard/*` the stylesheet and the ES
/// modules the page imports. Every file is embedded at build time and answered `no-cache` with
/// an `ETag`, so browsers revalidate and a new release shows at once. The page keeps an API key
/// in `localStorage`: its Content-Security-Policy lets only this origin's scripts run, so an
/// injected script cannot read the key.
struct DashboardController: Sendable {
    /// The page.
    let page: StaticAsset
    /// The stylesheet and the modules, by path.
    let assets: [(path: String, asset: StaticAsset)]

    /// Headers on every dashboard answer: no content sniffing, no referrer sent from the page.
    static let commonHeaders: HTTPFields = [.xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer"]
    /// Only this origin's scripts, styles and API; no frames, no `<base>`, no foreign forms; no
    /// string reaches an HTML or script sink (Trusted Types), so "text only" is enforced, not a habit.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'"
    /// Headers on the page only.
    static let pageHeaders: HTTPFields = {
        var headers = commonHeaders
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xFrameOptions] = "DENY"
        return headers
    }()

    /// The dashboard built into this executable.
    init() {
        let css = "text/css; charset=utf-8"
        let javascript = "application/javascript; charset=utf-8"
        page = StaticAsset(PackageResources.index_html, contentType: "text/html; charset=utf-8", cacheControl: "no-cache", extraHeaders: Self.pageHeaders)
        assets = [
            ("/dashboard/style.css", PackageResources.style_css, css), ("/dashboard/app.js", PackageResources.app_js, javascript),
            ("/dashboard/api.js", PackageResources.api_js, javascript), ("/dashboard/chart.js", PackageResources.chart_js, javascript),
            ("/dashboard/periods.js", PackageResources.periods_js, javascript),
        ].map { path, bytes, type in (path, StaticAsset(bytes, contentType: type, cacheControl: "no-cache", extraHeaders: Self.commonHeaders)) }
    }

    /// `GET` and `HEAD` for the page and every asset, by path: the methods a 405 names.
    var allowedMethods: [String: [HTTPRequest.Method]] {
        Dictionary(uniqueKeysWithValues: (["/"] + assets.map(\.path)).map { ($0, [.get, .head]) })
    }

    /// Adds `GET` and `HEAD` for the page and every asset.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        page.addRoutes(at: "/", to: router)
        for (path, asset) in assets { asset.addRoutes(at: RouterPath(path), to: router) }
    }
}
