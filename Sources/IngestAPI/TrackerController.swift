import Crypto
import Foundation
import Hummingbird

/// `GET /js/script.js`: our tracker, embedded in the executable at build time, served with an
/// `ETag` and a day of caching (a changed script reaches browsers within a day).
struct TrackerController: Sendable {
    /// The script's bytes.
    let source: [UInt8]
    /// A strong validator of those bytes.
    let etag: String

    /// The tracker built into this executable.
    init(source: [UInt8] = PackageResources.script_js) {
        self.source = source
        etag = "\"" + SHA256.hash(data: source).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }

    /// Adds `GET` and `HEAD` `/js/script.js`.
    func addRoutes(to router: some RouterMethods<IngestRequestContext>) {
        router.get("/js/script.js") { request, _ in self.script(request) }
        router.head("/js/script.js") { request, _ in self.script(request).createHeadResponse() }  // keeps GET's Content-Length
    }

    /// 200 with the script, or 304 when the browser's copy is current.
    func script(_ request: Request) -> Response {
        var headers: HTTPFields = [
            .contentType: "application/javascript; charset=utf-8",
            .cacheControl: "public, max-age=86400",
            .eTag: etag,
        ]
        // Weak comparison (RFC 9110): a compressing proxy turns the tag into W/"…".
        if let match = request.headers[.ifNoneMatch], match.utf8.count <= 4096, match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "W/" + etag || tag == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(source.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: source)))
    }
}
