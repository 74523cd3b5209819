import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// What a client of the HTTP API sees for good and hostile requests. Nothing refused is queued.
struct HTTPTests {
    static let metricsToken = "metrics-test-token"

    func withClient(_ body: @Sendable (any TestClientProtocol, TestServers) async throws -> Void) async throws {
        let servers = try TestServers()
        var dependencies = IngestDependencies(
            queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
        dependencies.metricsAccess = MetricsAccess(token: Self.metricsToken)
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            try await body(client, servers)
        }
        await servers.shutdown()
    }

    static let hostile: [(String, String, HTTPResponse.Status, String)] = [
        ("broken JSON", #"{"site_id":"s","#, .badRequest, "INVALID_JSON"),
        ("operator as site", #"{"site_id":{"$gt":""},"event_type":"page_view","path":"/"}"#, .badRequest, "VALIDATION_ERROR"),
        ("operator as path", #"{"site_id":"s","event_type":"page_view","path":{"$ne":null}}"#, .badRequest, "VALIDATION_ERROR"),
        ("operator key", #"{"site_id":"s","event_type":"click","$where":"1"}"#, .badRequest, "VALIDATION_ERROR"),
        ("wrong type", #"{"site_id":1,"event_type":"click"}"#, .badRequest, "VALIDATION_ERROR"),
        ("huge string", #"{"site_id":"s","event_type":"page_view","path":"/\#(String(repeating: "a", count: 10_000))"}"#, .badRequest, "VALIDATION_ERROR"),
        ("huge body", #"{"site_id":"s","event_type":"page_view","path":"/\#(String(repeating: "a", count: 20_000))"}"#, .contentTooLarge, "PAYLOAD_TOO_LARGE"),
        ("not an object", "[1,2]", .badRequest, "VALIDATION_ERROR"),
        ("empty body", "", .badRequest, "INVALID_JSON"),
    ]

    @Test(arguments: hostile)
    func hostileInputGetsAJSONErrorAndIsNotQueued(name: String, body: String, status: HTTPResponse.Status, code: String) async throws {
        try await withClient { client, servers in
            try await client.execute(uri: "/event", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == status, "\(name)")
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                #expect(answer["success"] as? Bool == false)
                #expect((answer["error"] as? [String: Any])?["code"] as? String == code, "\(name)")
            }
            #expect(try await servers.queued() == 0)
        }
    }

    @Test func invalidUTF8IsRefusedAndNotQueued() async throws {
        try await withClient { client, servers in
            var bytes = ByteBuffer(string: #"{"site_id":"s","event_type":"page_view","path":"/"#)
            bytes.writeBytes([0xFF, 0xFE])
            bytes.writeString(#""}"#)
            try await client.execute(uri: "/event", method: .post, headers: [.contentType: "application/json"], body: bytes) { response in
                #expect(response.status == .badRequest)
            }
            #expect(try await servers.queued() == 0)
        }
    }

    @Test func sendBeaconTextPlainIsAccepted() async throws {
        try await withClient { client, servers in
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"page_view","path":"/beacon"}"#)
            try await client.execute(uri: "/event", method: .post, headers: [.contentType: "text/plain;charset=UTF-8"], body: body) { response in
                #expect(response.status == .accepted)
            }
            #expect(try await servers.queued() == 1)
        }
    }

    @Test func formEncodedBodyIsUnsupportedMediaType() async throws {
        try await withClient { client, servers in
            try await client.execute(uri: "/event", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "site_id=s")) { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(String(buffer: response.body).contains("UNSUPPORTED_MEDIA_TYPE"))
            }
            #expect(try await servers.queued() == 0)
        }
    }

    @Test func unknownRouteAndWrongMethodAnswerJSON() async throws {
        try await withClient { client, _ in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains(#""code":"NOT_FOUND""#))
            }
            try await client.execute(uri: "/event", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow]?.contains("POST") == true)
                #expect(String(buffer: response.body).contains(#""code":"METHOD_NOT_ALLOWED""#))
            }
        }
    }

    @Test func browsersMayPostFromAnyOrigin() async throws {
        try await withClient { client, _ in
            try await client.execute(uri: "/event", method: .options, headers: [
                .origin: "https://shop.example", .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type",
            ]) { response in
                #expect(response.status == .noContent || response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                #expect(response.headers[.accessControlAllowMethods]?.contains("POST") == true)
            }
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"click"}"#)
            try await client.execute(uri: "/event", method: .post, headers: [.origin: "https://shop.example", .contentType: "application/json"], body: body) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
        }
    }

    @Test func healthReportsQueueDepthAndMetricsAreExported() async throws {
        try await withClient { client, servers in
            _ = try await servers.redis.send(RedisCommand("LPUSH", servers.configuration.keys.dead, #"{"raw":"x"}"#)).orThrow()
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"click"}"#)
            try await client.execute(uri: "/event", method: .post, body: body) { #expect($0.status == .accepted) }
            try await client.execute(uri: "/event", method: .post, body: ByteBuffer(string: "{")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body)
                    == #"{"status":"ok","redis":"ok","mongo":"ok","queue_depth":1,"queue_full":false,"dead_letters":1}"#)
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(Self.metricsToken)"]) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.contains("events_accepted_total"))
                #expect(text.contains(#"events_rejected_total{code="INVALID_JSON"}"#))
                #expect(text.contains("ingest_enqueue_duration_seconds_bucket"))
                #expect(text.contains("queue_depth"))
                #expect(text.contains("dead_letters "))  // the gauge is process-wide: its value belongs to whichever test wrote it last
                #expect(text.contains(#"hb_requests{http_route="/event""#))
            }
        }
    }

    /// The accepted answer written straight to bytes is the JSON the object writer makes.
    @Test func theAcceptedAnswerIsTheObjectItStandsFor() async throws {
        let id = #"quote"and\slash-é"#
        let body = ByteBuffer(bytes: JSONValue.object([("site_id", .string("s")), ("event_type", .string("click")), ("event_id", .string(id))]).bytes)
        try await withClient { client, _ in
            try await client.execute(uri: "/event", method: .post, body: body) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(Array(response.body.readableBytesView) == JSONValue.object([("success", .bool(true)), ("event_id", .string(id))]).bytes)
            }
        }
    }
}
