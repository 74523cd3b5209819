import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// The whole path on real servers: HTTP → Redis → worker → MongoDB → /stats.
@Suite(.serialized) struct PipelineTests {
    func app(_ servers: TestServers) -> some ApplicationProtocol {
        let dependencies = IngestDependencies(
            queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
        return Application(router: buildRouter(dependencies))
    }

    @Test func eventIsStoredWithItsFieldsAsBSONTypes() async throws {
        try await TestServers.with { servers in
            let body = #"{"site_id":"site-001","event_type":"page_view","path":"/blog","userid":"user-115","timestamp":"2025-11-23T16:44:31.123Z","props":{"plan":"pro","n":3,"r":0.5,"ok":true}}"#
            let eventID = try await app(servers).test(.router) { client in
                try await client.execute(uri: "/event", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .accepted)
                    let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                    #expect(answer["success"] as? Bool == true)
                    return answer["event_id"] as! String
                }
            }
            try await servers.withWorker {
                try await eventually("the event is stored") { try await servers.count() == 1 }
            }
            let document = try #require(try await servers.documents().first)
            #expect(document["_id"] as? String == "site-001/" + eventID)
            #expect(document["event_id"] as? String == eventID)
            #expect(document["site_id"] as? String == "site-001")
            #expect(document["event_type"] as? String == "page_view")
            #expect(document["path"] as? String == "/blog")
            #expect(document["userid"] as? String == "user-115")
            // Relaxed extended JSON writes BSON dates as {"$date": …}: these are dates, not strings.
            #expect((document["timestamp"] as? [String: Any])?["$date"] as? String == "2025-11-23T16:44:31.123Z")
            #expect((document["createdAt"] as? [String: Any])?["$date"] != nil)
            #expect((document["count"] as? NSNumber)?.intValue == 1)
            let props = try #require(document["props"] as? [String: Any])
            #expect(props["plan"] as? String == "pro")
            #expect((props["n"] as? NSNumber)?.intValue == 3)
            #expect((props["r"] as? NSNumber)?.doubleValue == 0.5)
            #expect(props["ok"] as? Bool == true)
            #expect(try await servers.queued() == 0)
        }
    }

    @Test func seed004SampleAnswersTheSeedsJSON() async throws {
        try await TestServers.with { servers in
            let views: [(String, String)] = [
                ("/pricing", "user-1"), ("/pricing", "user-2"), ("/pricing", "user-1"),
                ("/contact", "user-1"), ("/contact", "user-3"),
                ("/blog", "user-2"), ("/blog", "user-3"),
            ]
            let application = app(servers)
            try await application.test(.router) { client in
                for (index, (path, user)) in views.enumerated() {
                    let body = #"{"site_id":"site-001","event_type":"page_view","path":"\#(path)","userid":"\#(user)","timestamp":"2025-11-23T1\#(index):44:31.123Z"}"#
                    try await client.execute(uri: "/event", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                        #expect(response.status == .accepted)
                    }
                }
                // Another day and another site do not count.
                for body in [#"{"site_id":"site-001","event_type":"page_view","path":"/blog","timestamp":"2025-11-24T00:00:00Z"}"#,
                             #"{"site_id":"site-002","event_type":"page_view","path":"/blog","timestamp":"2025-11-23T12:00:00Z"}"#] {
                    try await client.execute(uri: "/event", method: .post, body: ByteBuffer(string: body)) { #expect($0.status == .accepted) }
                }
            }
            try await servers.withWorker {
                try await eventually("all nine events are stored") { try await servers.count() == 9 }
            }
            try await application.test(.router) { client in
                try await client.execute(uri: "/stats?site_id=site-001&date=2025-11-23", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == """
                        {"success":true,"stats":{"site_id":"site-001","date":"2025-11-23","total_views":7,"unique_users":3,"top_paths":[\
                        {"path":"/pricing","views":3,"unique_users":2},{"path":"/contact","views":2,"unique_users":2},\
                        {"path":"/blog","views":2,"unique_users":2}]}}
                        """)
                }
                try await client.execute(uri: "/stats?site_id=site-001&date=2025-11-23&limit=1", method: .get) { response in
                    let stats = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                    let top = (stats["stats"] as! [String: Any])["top_paths"] as! [[String: Any]]
                    #expect(top.count == 1)
                    #expect(top.first?["path"] as? String == "/pricing")
                }
                try await client.execute(uri: "/stats?site_id=site-001&date=2025-11-22", method: .get) { response in
                    #expect(String(buffer: response.body) == #"{"success":true,"stats":{"site_id":"site-001","date":"2025-11-22","total_views":0,"unique_users":0,"top_paths":[]}}"#)
                }
                try await client.execute(uri: "/stats?site_id=site-001", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(String(buffer: response.body).contains(#""field":"date""#))
                }
            }
        }
    }

    @Test func sameEventIDTwiceIsStoredOnce() async throws {
        try await TestServers.with { servers in
            let body = #"{"site_id":"dup","event_type":"page_view","path":"/x","event_id":"client-key-1","timestamp":"2025-11-23T10:00:00Z"}"#
            let application = app(servers)
            try await application.test(.router) { client in
                for _ in 0..<2 {
                    try await client.execute(uri: "/event", method: .post, body: ByteBuffer(string: body)) { #expect($0.status == .accepted) }
                }
            }
            try await servers.withWorker {
                try await eventually("both copies are taken off the queue") {
                    let queued = try await servers.queued()
                    let stored = try await servers.count()
                    return queued == 0 && stored == 1
                }
            }
            #expect(try await servers.count(#"{"_id": "dup/client-key-1", "event_id": "client-key-1"}"#) == 1)
            try await application.test(.router) { client in
                try await client.execute(uri: "/stats?site_id=dup&date=2025-11-23", method: .get) { response in
                    #expect(String(buffer: response.body).contains(#""total_views":1,"#))
                }
            }
        }
    }

    @Test func batchEndpointQueuesTheValidAndListsTheRest() async throws {
        try await TestServers.with { servers in
            let body = #"[{"site_id":"b","event_type":"click"},{"site_id":"b","event_type":"page_view"},{"site_id":{"$gt":""},"event_type":"x"},{"site_id":"b","event_type":"page_view","path":"/p"}]"#
            try await app(servers).test(.router) { client in
                try await client.execute(uri: "/events", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .accepted)
                    let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as! [String: Any]
                    #expect(answer["accepted"] as? Int == 2)
                    let rejected = answer["rejected"] as! [[String: Any]]
                    #expect(rejected.map { $0["index"] as? Int } == [1, 2])
                    #expect((rejected[0]["error"] as? [String: Any])?["field"] as? String == "path")
                }
            }
            #expect(try await servers.queued() == 2)
        }
    }
}
