import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// What a hostile or unlucky client sees at the front door: malformed headers are refused, never
/// a trap; CORS only where browsers must send; metrics closed by default; a 503 names no host
/// and says whether the events may be queued.
struct FrontDoorTests {
    static let goodEvent = ByteBuffer(string: #"{"site_id":"s","event_type":"click"}"#)

    func withClient(
        configure: (inout IngestDependencies) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol, TestServers) async throws -> Void
    ) async throws {
        let servers = try TestServers()
        var dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
        configure(&dependencies)
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            try await body(client, servers)
        }
        await servers.shutdown()
    }

    @Test(arguments: [";", ";;;", "", " ", "/json", "text/", "a/b/c", String(repeating: ";", count: 5000)])
    func aMalformedContentTypeIsRefusedWith415AndTheAPIStillAnswers(contentType: String) async throws {
        try await withClient { client, servers in
            let headers: HTTPFields = [.contentType: contentType]
            try await client.execute(uri: "/event", method: .post, headers: headers, body: Self.goodEvent) { response in
                #expect(response.status == .unsupportedMediaType)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((answer?["error"] as? [String: Any])?["code"] as? String == "UNSUPPORTED_MEDIA_TYPE")
            }
            try await client.execute(uri: "/events", method: .post, headers: headers, body: ByteBuffer(string: "[]")) {
                #expect($0.status == .unsupportedMediaType)
            }
            #expect(try await servers.queued() == 0)
            try await client.execute(uri: "/event", method: .post, headers: [.contentType: "Application/JSON ; charset=utf-8"], body: Self.goodEvent) {
                #expect($0.status == .accepted)
            }
        }
    }

    @Test func corsIsAnsweredOnIngestRoutesOnly() async throws {
        try await withClient { client, _ in
            let preflight: HTTPFields = [.origin: "https://shop.example", .accessControlRequestMethod: "POST"]
            for path in ["/event", "/events"] {
                try await client.execute(uri: path, method: .options, headers: preflight) { response in
                    #expect(response.status == .noContent)
                    #expect(response.headers[.accessControlAllowOrigin] == "*")
                }
            }
            try await client.execute(uri: "/event", method: .post, headers: [.origin: "https://shop.example"], body: Self.goodEvent) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
            }
            for path in ["/stats?site_id=s&date=2025-11-23", "/healthz", "/metrics"] {
                try await client.execute(uri: path, method: .get, headers: [.origin: "https://evil.example"]) { response in
                    #expect(response.headers[.accessControlAllowOrigin] == nil, "\(path)")
                }
            }
        }
    }

    @Test func metricsAreRefusedWithoutTheTokenAndServedWithIt() async throws {
        try await withClient(configure: { $0.metricsAccess = MetricsAccess(token: "s3cret") }) { client, _ in
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer s3cret"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("queue_depth"))
            }
        }
    }

    @Test func metricsWithoutATokenAreForLoopbackClientsNotThroughAProxy() {
        let access = MetricsAccess(token: nil)
        #expect(access.allows(peer: "127.0.0.1", authorization: nil, forwarded: false))
        #expect(access.allows(peer: "::1", authorization: nil, forwarded: false))
        #expect(!access.allows(peer: "127.0.0.1", authorization: nil, forwarded: true))
        #expect(!access.allows(peer: "203.0.113.7", authorization: nil, forwarded: false))
        #expect(!access.allows(peer: nil, authorization: nil, forwarded: false))
        let behindProxy = MetricsAccess(token: nil, behindProxy: true)
        #expect(!behindProxy.allows(peer: "127.0.0.1", authorization: nil, forwarded: false), "behind a proxy every client looks local")
        #expect(MetricsAccess(token: "t", behindProxy: true).allows(peer: "203.0.113.7", authorization: "Bearer t", forwarded: true))
    }

    /// A load balancer reads any 503 from `/healthz` as "take me out": a flood of probes must
    /// get the health as it is, never a refusal for being many.
    @Test func aFloodOfHealthProbesIsAnsweredNotRefused() async throws {
        try await withClient { client, _ in
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await client.execute(uri: "/healthz", method: .get) { $0.status } }
                }
                var statuses: [HTTPResponse.Status] = []
                for try await status in group { statuses.append(status) }
                #expect(statuses.count == 200)
                #expect(statuses.allSatisfy { $0 == .ok }, "\(Set(statuses.map(\.code)))")
            }
        }
    }

    @Test func aRedisThatCannotBeReachedGets503WithoutItsAddressAndNothingIsClaimedAccepted() async throws {
        let servers = try TestServers()
        let closed = try ClosedPort()  // bound, never listening: refuses connections, and no other test can take it
        let port = closed.port
        var configuration = servers.configuration.redis
        configuration.port = port
        let redis = RedisClient(configuration: configuration, maxConnections: 1, logger: servers.logger)
        let dependencies = IngestDependencies(
            queue: ReliableQueue(redis: redis, keys: servers.configuration.keys), store: servers.store,
            registry: IngestMetrics.registry, maxPushesInFlight: 1)
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            try await client.execute(uri: "/event", method: .post, body: Self.goodEvent) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] != nil)
                let text = String(buffer: response.body)
                #expect(text.contains("SERVICE_UNAVAILABLE"))
                #expect(!text.contains(String(port)) && !text.contains("127.0.0.1"), "503 body leaks the Redis address: \(text)")
            }
        }
        await redis.shutdown()
        await servers.shutdown()
        closed.close()
    }

    /// Redis runs the push but its answer never arrives (a proxy swallows it). The client must
    /// hear "may have been accepted", with the id to resend under, and the event must be in the
    /// queue exactly once: our client resent nothing.
    @Test func aPushRedisRanButDidNotConfirmIsReportedAsUnknownWithTheIdsToResend() async throws {
        let servers = try TestServers()
        let proxy = try ReplyDroppingProxy(upstreamPort: servers.configuration.redis.port)
        var configuration = servers.configuration.redis
        configuration.port = proxy.port
        configuration.readTimeout = .milliseconds(300)
        let redis = RedisClient(configuration: configuration, maxConnections: 1, logger: servers.logger)
        let queue = ReliableQueue(redis: redis, keys: servers.configuration.keys)
        let dependencies = IngestDependencies(queue: queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 1)
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            try await client.execute(uri: "/event", method: .post, body: Self.goodEvent) { #expect($0.status == .accepted) }
            proxy.dropReplies()
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"click","event_id":"retry-me-1"}"#)
            try await client.execute(uri: "/event", method: .post, body: body) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((answer?["error"] as? [String: Any])?["code"] as? String == "OUTCOME_UNKNOWN")
                let events = answer?["events"] as? [[String: Any]]
                #expect(events?.count == 1 && events?.first?["index"] as? Int == 0 && events?.first?["event_id"] as? String == "retry-me-1")
            }
        }
        let queued = try await servers.redis.send(RedisCommand("LRANGE", servers.configuration.keys.queue, "0", "-1")).orThrow().elements ?? []
        #expect(queued.count == 2, "the unconfirmed push ran once, and was not resent")
        #expect(queued.first?.string?.contains("retry-me-1") == true)
        proxy.close()
        await redis.shutdown()
        await servers.shutdown()
    }
}

extension FrontDoorTests {
    /// `REDIS_ACK_REPLICAS=1` on a Redis with no replica: the push runs on the master but no
    /// replica confirms it, so the client hears "may have been accepted", never 202.
    @Test func aPushNoReplicaConfirmedIsNotAcknowledged() async throws {
        let servers = try TestServers()
        let queue = ReliableQueue(redis: servers.redis, keys: servers.configuration.keys, pushAcks: ReplicaAcks(replicas: 1, timeout: .milliseconds(50)))
        let dependencies = IngestDependencies(queue: queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 1)
        try await Application(router: buildRouter(dependencies)).test(.router) { client in
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"click","event_id":"unreplicated-1"}"#)
            try await client.execute(uri: "/event", method: .post, body: body) { response in
                #expect(response.status == .serviceUnavailable)
                let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect((answer?["error"] as? [String: Any])?["code"] as? String == "OUTCOME_UNKNOWN")
            }
        }
        #expect(try await servers.queued() == 1, "the master has it; only its safety is unknown")
        await servers.shutdown()
    }
}

/// A loopback port held bound but not listening: every connection to it is refused at once.
final class ClosedPort: Sendable {
    /// The port.
    let port: Int
    private let fd: Int32

    /// Binds a free loopback port.
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw TestSetupError("no free port to hold closed") }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Releases the port.
    func close() { Glibc.close(fd) }
}
