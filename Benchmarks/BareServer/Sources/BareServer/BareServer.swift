import Foundation
import Hummingbird

/// `POST /event`: read the body (up to 16 KiB, as IngestAPI does), answer 202, nothing else.
@main
struct BareServer {
    static func main() async throws {
        let port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 3100
        let router = Router()
        router.post("/event") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 16 * 1024)
            return Response(
                status: .accepted, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"success":true}"#)))
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
            .runService()
    }
}
