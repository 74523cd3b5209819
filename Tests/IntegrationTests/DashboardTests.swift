import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI

/// The dashboard's page and files as a browser fetches them from IngestAPI's real router: the
/// bytes of Sources/IngestAPI/Dashboard, their types, revalidation, and the page's security headers.
struct DashboardTests {
    /// Every file the dashboard serves: its path, its file in the source tree, its content type.
    static let files: [(path: String, file: String, contentType: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/dashboard/style.css", "style.css", "text/css; charset=utf-8"),
        ("/dashboard/app.js", "app.js", "application/javascript; charset=utf-8"),
        ("/dashboard/api.js", "api.js", "application/javascript; charset=utf-8"),
        ("/dashboard/chart.js", "chart.js", "application/javascript; charset=utf-8"),
        ("/dashboard/periods.js", "periods.js", "application/javascript; charset=utf-8"),
    ]

    /// The policy the page must carry: only this origin's scripts may run and read the stored key.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'"

    /// The bytes of `name` in Sources/IngestAPI/Dashboard, read from this checkout.
    static func sourceFile(_ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return Array(try Data(contentsOf: root.appendingPathComponent("Sources/IngestAPI/Dashboard").appendingPathComponent(name)))
    }

    /// Runs `body` with a client of the real router over fresh servers.
    static func withClient(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await TestServers.with { servers in
            let dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
            try await Application(router: buildRouter(dependencies)).test(.router) { client in try await body(client) }
        }
    }

    @Test func thePageIsHTMLThatOnlyThisOriginsScriptsMayRun() async throws {
        try await Self.withClient { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy] == Self.contentSecurityPolicy)
            #expect(page.headers[.xFrameOptions] == "DENY")
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.headers[.referrerPolicy] == "no-referrer")
            #expect(page.headers[.cacheControl] == "no-cache", "a new release must show at once")
            #expect(Array(buffer: page.body) == (try Self.sourceFile("index.html")))
        }
    }

    @Test func everyFileIsServedAsInTheSourceTreeAndRevalidatedWithItsETag() async throws {
        try await Self.withClient { client in
            for (path, file, contentType) in Self.files {
                let bytes = try Self.sourceFile(file)
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentType] == contentType, "\(path)")
                #expect(response.headers[.cacheControl] == "no-cache", "\(path)")
                #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                #expect(response.headers[.referrerPolicy] == "no-referrer", "\(path)")
                #expect(Array(buffer: response.body) == bytes, "\(path) differs from Sources/IngestAPI/Dashboard/\(file): missing resource, or rebuild")
                let etag = try #require(response.headers[.eTag], "\(path)")
                #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""), "a strong validator: \(etag)")

                for validator in [etag, "W/" + etag, "\"other\", " + etag] {
                    let again = try await client.execute(uri: path, method: .get, headers: [.ifNoneMatch: validator])
                    #expect(again.status == .notModified, "\(path) with If-None-Match: \(validator)")
                    #expect(again.body.readableBytes == 0, "\(path): a 304 has no body")
                    #expect(again.headers[.eTag] == etag && again.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                }
                let stale = try await client.execute(uri: path, method: .get, headers: [.ifNoneMatch: "\"stale\""])
                #expect(stale.status == .ok && Array(buffer: stale.body) == bytes, "\(path): another release's tag gets the file")

                let head = try await client.execute(uri: path, method: .head)
                #expect(head.status == .ok, "HEAD \(path)")
                #expect(head.headers[.contentLength] == String(bytes.count), "HEAD \(path) says what GET sends")
                #expect(head.headers[.contentType] == contentType && head.headers[.eTag] == etag, "HEAD \(path)")
                #expect(head.body.readableBytes == 0, "HEAD \(path)")
                let headAgain = try await client.execute(uri: path, method: .head, headers: [.ifNoneMatch: etag])
                #expect(headAgain.status == .notModified, "HEAD \(path) with its ETag")
            }
        }
    }

    @Test func anUnknownFileIsAJSONNotFoundAndAWrongMethodA405() async throws {
        try await Self.withClient { client in
            for path in ["/dashboard/x.js", "/dashboard/", "/dashboard/app.js.map", "/index.html", "/dashboard/../js/script.js"] {
                let response = try await client.execute(uri: path, method: .get)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.headers[.contentType] == "application/json; charset=utf-8", "\(path)")
                #expect(String(buffer: response.body).contains(#""code":"NOT_FOUND""#), "\(path): \(String(buffer: response.body))")
            }
            for (path, allow) in [("/", "GET, HEAD"), ("/dashboard/app.js", "GET, HEAD"), ("/api/v1/sites", "GET"), ("/api/v1/sites/a.example", "GET")] {
                let response = try await client.execute(uri: path, method: .post)
                #expect(response.status == .methodNotAllowed, "POST \(path)")
                #expect(response.headers[.allow] == allow, "POST \(path)")
                #expect(String(buffer: response.body).contains(#""code":"METHOD_NOT_ALLOWED""#), "POST \(path)")
            }
            let deeper = try await client.execute(uri: "/api/v1/sites/a.example/more", method: .post)
            #expect(deeper.status == .notFound, "a {site_id} segment stands for one segment, no more")
        }
    }
}
