import Hummingbird

/// `GET /js/script.js`: our tracker, embedded in the executable at build time, served with an
/// `ETag` and a day of caching (a changed script reaches browsers within a day).
struct TrackerController: Sendable {
    /// The script, its validator and its headers.
    let script: StaticAsset

    /// The tracker built into this executable.
    init(source: [UInt8] = PackageResources.script_js) {
        script = StaticAsset(source, contentType: "application/javascript; charset=utf-8", cacheControl: "public, max-age=86400")
    }

    /// Adds `GET` and `HEAD` `/js/script.js`.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        script.addRoutes(at: "/js/script.js", to: router)
    }
}
