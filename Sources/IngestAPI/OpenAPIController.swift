import Crypto
import Foundation
import Hummingbird

/// `GET /api/openapi.json`: the OpenAPI 3.1 document of every public route, embedded in the
/// executable at build time (like the tracker), served with an `ETag` and an hour of caching.
struct OpenAPIController: Sendable {
    /// The document's bytes.
    let document: [UInt8]
    /// A strong validator of those bytes.
    let etag: String

    /// The document built into this executable.
    init(document: [UInt8] = PackageResources.openapi_json) {
        self.document = document
        etag = "\"" + SHA256.hash(data: document).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }

    /// Adds `GET /api/openapi.json`.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        router.get("/api/openapi.json") { request, _ in self.serve(request) }
    }

    /// 200 with the document, or 304 when the client's copy is current.
    func serve(_ request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8",
            .cacheControl: "public, max-age=3600",
            .eTag: etag,
        ]
        if let match = request.headers[.ifNoneMatch], match.utf8.count <= 4096, match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "W/" + etag || tag == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(document.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document)))
    }
}
