import Hummingbird

/// `GET /api/openapi.json`: the OpenAPI 3.1 document of every public route, embedded in the
/// executable at build time (like the tracker), served with an `ETag` and an hour of caching.
struct OpenAPIController: Sendable {
    /// The document, its validator and its headers.
    let document: StaticAsset

    /// The document built into this executable.
    init(document: [UInt8] = PackageResources.openapi_json) {
        self.document = StaticAsset(document, contentType: "application/json; charset=utf-8", cacheControl: "public, max-age=3600")
    }

    /// Adds `GET /api/openapi.json`.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        router.get("/api/openapi.json") { request, _ in self.document.response(to: request) }
    }
}
