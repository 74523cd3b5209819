import Crypto
import Foundation
import Hummingbird

/// A file built into the executable (an `.embedInCode` resource), answered with a strong `ETag`
/// from its SHA-256, its `Cache-Control`, and 304 when the client's copy is current.
struct StaticAsset: Sendable {
    /// The file's bytes, in the buffer every answer shares (copy-on-write: never copied to send).
    let body: ByteBuffer
    /// A strong validator of those bytes: the first 12 bytes of their SHA-256, in hex and quotes.
    let etag: String
    /// Every header of an answer but `Content-Length`: type, caching, `ETag` and any extra ones.
    let headers: HTTPFields

    /// Longest `If-None-Match` looked at; a longer one is ignored (answered 200), never scanned.
    static let maxIfNoneMatchLength = 4096

    /// `bytes` served as `contentType` with `cacheControl`, plus `extraHeaders` on every answer.
    init(_ bytes: [UInt8], contentType: String, cacheControl: String, extraHeaders: HTTPFields = [:]) {
        body = ByteBuffer(bytes: bytes)
        etag = "\"" + SHA256.hash(data: bytes).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: cacheControl, .eTag: etag]
        headers.append(contentsOf: extraHeaders)
        self.headers = headers
    }

    /// 200 with the bytes, or 304 (no body) when `If-None-Match` names them.
    func response(to request: Request) -> Response {
        guard !isCurrent(request.headers[.ifNoneMatch]) else { return Response(status: .notModified, headers: headers) }
        var headers = headers
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// True when `ifNoneMatch` lists this asset's tag, or is `*`. The comparison is weak (RFC 9110):
    /// a compressing proxy turns the tag into `W/"…"`.
    func isCurrent(_ ifNoneMatch: String?) -> Bool {
        guard let ifNoneMatch, ifNoneMatch.utf8.count <= Self.maxIfNoneMatchLength else { return false }
        return ifNoneMatch.split(separator: ",").contains {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "W/" + etag || tag == "*"
        }
    }

    /// Adds `GET` and `HEAD` `path`; HEAD answers GET's headers, `Content-Length` included.
    func addRoutes(at path: RouterPath, to router: some RouterMethods<IngestRequestContext>) {
        router.get(path) { request, _ in self.response(to: request) }
        router.head(path) { request, _ in self.response(to: request).createHeadResponse() }
    }
}
