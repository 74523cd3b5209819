import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

extension StatsAPITests {
    @Test func zzDebug() async throws {
        try await Self.withSite(isPublic: true) { site in
            let big = "{" + #""site_id": "api.test", "metrics": ["visitors"], "x": ""# + String(repeating: "a", count: 70_000) + #""}"#
            let response = try await site.client.execute(uri: "/api/v2/query", method: .post, headers: [.authorization: "Bearer " + site.key], body: ByteBuffer(string: big)) { $0 }
            print("DEBUG413", response.status, response.headers, String(buffer: response.body))
            let day = Self.localDays(4...4)[0]
            let query = try StatsQuery(siteID: site.site, date: day.label, limit: nil)
            let pipeline = """
                [{"$match": {"site_id": "api.test", "event_type": "page_view", "timestamp": {"$gte": {"$date": {"$numberLong": "\(day.range.start)"}}, "$lt": {"$date": {"$numberLong": "\(day.range.end)"}}}}},
                 {"$facet": {"t": [{"$group": {"_id": null, "views": {"$sum": "$count"}, "users": {"$addToSet": "$userid"}}}]}}]
                """
            for row in try await site.servers.store.aggregate(pipelineJSON: pipeline) { print("DEBUGPIPE", String(decoding: row, as: UTF8.self)) }
            for row in try await site.servers.store.aggregate(pipelineJSON: query.pipelineJSON) { print("DEBUGFACET", String(decoding: row, as: UTF8.self).prefix(400)) }
            let views = site.stream.events.filter { day.range.contains($0.timestamp) && $0.path != nil }
            print("DEBUGTRUTH", Set(views.compactMap(EventStream.user(of:))).sorted())
        }
    }
}
