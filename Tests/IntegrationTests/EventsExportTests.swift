import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// `GET /api/v1/events` and `GET /api/v1/export` against nx-27017, as a client with a key sees them.
struct EventsExportTests {
    static let site = "raw.test"
    /// 2026-10-20T00:00:00Z: the custom period below is that day and the next.
    static let dayStart: Int64 = 1_792_454_400_000
    static let period = "period=custom&date=2026-10-20,2026-10-21"

    /// The app over fresh servers, the site added, and a key reading its raw events.
    func withClient(_ body: @Sendable (any TestClientProtocol, TestServers, String) async throws -> Void) async throws {
        try await TestServers.with(mongo: .stats) { servers in
            let dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
            _ = try await SiteStore(store: servers.store).add(Site(domain: Self.site))
            let key = try await APIKeyStore(store: servers.store).create(
                name: "raw", sites: [Self.site], allSites: false, scopes: [APIScope.eventsRead], now: Self.dayStart).key
            try await Application(router: buildRouter(dependencies)).test(.router) { client in try await body(client, servers, key) }
        }
    }

    /// `count` events from `first`, two at each `step` from `start`: page views and sign-ups on
    /// four pages, two sources, a visitor id past JavaScript's exact integers.
    static func events(_ count: Int, from first: Int, at start: Int64 = dayStart + 3_600_000, every step: Int64 = 61_007) -> [StoredEvent] {
        (first..<(first + count)).map { index in
            let visit = VisitFields(
                visitorID: 9_007_199_254_740_993 + Int64(index % 11), sessionID: Int64(index % 13), hostname: "raw.test", referrer: nil,
                source: index % 2 == 0 ? "Google" : "Direct / None", utmMedium: nil, utmSource: nil, utmCampaign: nil, utmContent: nil,
                utmTerm: nil, browser: "Firefox", browserVersion: "120", os: "Linux", osVersion: "", device: "Desktop", country: "FR")
            let signup = index % 5 == 0
            let plan: String = index % 10 == 0 ? "=cmd" : "pro"
            let props: [String: PropValue]? = signup ? ["plan": .string(plan)] : nil
            let timestamp: Int64 = start + Int64((index - first) / 2) * step
            let event = Event(
                eventID: "e\(index)", siteID: site, eventType: signup ? "signup" : "page_view", path: "/p\(index % 4)",
                userID: index % 3 == 0 ? "user\(index % 7)" : nil, timestamp: timestamp, receivedAt: start, props: props, visit: visit)
            return StoredEvent(event)
        }
    }

    func get(_ client: any TestClientProtocol, _ uri: String, key: String?) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: String) {
        var headers = HTTPFields()
        if let key { headers[.authorization] = "Bearer \(key)" }
        return try await client.execute(uri: uri, method: .get, headers: headers) { ($0.status, $0.headers, String(buffer: $0.body)) }
    }

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func pagingWhileEventsArriveShowsEveryOriginalEventOnce() async throws {
        try await withClient { client, servers, key in
            // 120 events a minute apart, and 150 in one second (more than one read of the store).
            _ = try await servers.store.insert(Self.events(120, from: 0) + Self.events(150, from: 500, at: Self.dayStart + 5_400_123, every: 5))
            var cursor: String?
            var seen: [String] = []
            var previous: (String, String)?
            var page = 0
            repeat {
                let uri = "/api/v1/events?site_id=\(Self.site)&\(Self.period)&limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                let answer = try await get(client, uri, key: key)
                #expect(answer.status == .ok, "\(answer.body)")
                let object = try json(answer.body)
                let results = try #require(object["results"] as? [[String: Any]])
                #expect(results.count <= 7)
                for row in results {
                    let current = (try #require(row["timestamp"] as? String), try #require(row["event_id"] as? String))
                    if let previous { #expect(previous.0 <= current.0, "in time order") }
                    previous = current
                    seen.append(current.1)
                }
                cursor = object["next_cursor"] as? String
                // Events arrive meanwhile: some behind the walk, some ahead of it.
                _ = try await servers.store.insert(Self.events(2, from: 1000 + 2 * page, at: Self.dayStart + Int64(page) * 600_000))
                page += 1
            } while cursor != nil && page < 200
            #expect(page < 200)
            let originals = ((0..<120).map { "e\($0)" } + (500..<650).map { "e\($0)" })
            #expect(seen.filter { originals.contains($0) }.sorted() == originals.sorted(), "every original once")
            #expect(Set(seen).count == seen.count, "no event twice")
        }
    }

    @Test func aPageHasEveryFieldAndFiltersReadTheEventAndItsVisit() async throws {
        try await withClient { client, servers, key in
            _ = try await servers.store.insert(Self.events(40, from: 0))
            let filters = "visit:source%3D%3DGoogle%3Bevent:page%3D%3D/p2"
            let answer = try await get(client, "/api/v1/events?site_id=\(Self.site)&\(Self.period)&filters=\(filters)&limit=1000", key: key)
            #expect(answer.status == .ok, "\(answer.body)")
            let results = try #require(try json(answer.body)["results"] as? [[String: Any]])
            #expect(results.map { $0["event_id"] as? String } == (0..<40).filter { $0 % 4 == 2 }.map { "e\($0)" })
            let first = try #require(results.first)
            #expect(first["timestamp"] as? String == "2026-10-20T01:01:01.007Z")
            #expect(first["name"] as? String == "pageview")
            #expect(first["visitor_id"] as? String == "9007199254740995")
            #expect(first["source"] as? String == "Google")
            #expect(first["ip"] == nil)
            #expect(try json(answer.body)["next_cursor"] is NSNull)

            let all = try await get(client, "/api/v1/events?site_id=\(Self.site)&period=all&date=2026-10-21&limit=1000", key: key)
            #expect(try (json(all.body)["results"] as? [[String: Any]])?.count == 40, "period=all: every event up to the day")
            let none = try await get(client, "/api/v1/events?site_id=\(Self.site)&period=day&date=2026-10-19", key: key)
            #expect(try (json(none.body)["results"] as? [[String: Any]])?.isEmpty == true)
        }
    }

    @Test func exportsInCSVAndNDJSONHoldEveryEvent() async throws {
        try await withClient { client, servers, key in
            _ = try await servers.store.insert(Self.events(2500, from: 0))
            let csv = try await get(client, "/api/v1/export?site_id=\(Self.site)&\(Self.period)&format=csv", key: key)
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition] == #"attachment; filename="events-raw.test-2026-10-20-2026-10-21.csv""#)
            let lines = csv.body.components(separatedBy: "\r\n").dropLast()
            #expect(lines.count == 2501)
            #expect(lines.first == RawEvent.columns.joined(separator: ","))
            #expect(lines.dropFirst().first?.hasPrefix("e0,raw.test,2026-10-20T01:00:00.000Z,signup,signup,/p0,") == true)
            #expect(lines.contains { $0.hasSuffix(#",1,"{""plan"":""=cmd""}""#) }, "props as one JSON cell")
            #expect(Set(lines.dropFirst().map { $0.prefix { $0 != "," } }).count == 2500)

            let ndjson = try await get(client, "/api/v1/export?site_id=\(Self.site)&\(Self.period)&format=ndjson&filters=event:name%3D%3Dsignup", key: key)
            #expect(ndjson.status == .ok)
            #expect(ndjson.headers[.contentType] == "application/x-ndjson")
            let rows = try ndjson.body.split(separator: "\n").map { try json(String($0)) }
            #expect(rows.count == 500)
            #expect(rows.allSatisfy { $0["event_type"] as? String == "signup" })
            #expect(rows.last?["event_id"] as? String == "e2495")
        }
    }

    @Test func withoutTheRightKeyRawEventsAre401() async throws {
        try await withClient { client, servers, key in
            _ = try await SiteStore(store: servers.store).add(Site(domain: "open.test", isPublic: true))
            let statsOnly = try await APIKeyStore(store: servers.store).create(
                name: "stats", sites: [Self.site], allSites: false, scopes: [APIScope.statsRead], now: Self.dayStart).key
            let refused: [(String, String?)] = [
                ("/api/v1/events?site_id=\(Self.site)", nil), ("/api/v1/export?site_id=\(Self.site)", nil),
                ("/api/v1/events?site_id=\(Self.site)", "pk_not-a-key"), ("/api/v1/events?site_id=\(Self.site)", statsOnly),
                ("/api/v1/events?site_id=other.test", key), ("/api/v1/events?site_id=open.test", nil), ("/api/v1/export?site_id=open.test", nil),
            ]
            for (uri, offered) in refused {
                let answer = try await get(client, uri, key: offered)
                #expect(answer.status == .unauthorized, "\(uri) with \(offered ?? "no key")")
                #expect(try json(answer.body)["error"] is String)
            }
        }
    }

    @Test(arguments: [
        ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("cursor=%7B%22%24gt%22%3A1%7D", "cursor"),
        ("period=fortnight", "period"), ("filters=event:page", "filters"), ("filters=visit:city%3D%3DParis", "filters"),
        ("filters=visit:entry_page%3D%3D%2Fa", "visit:entry_page"), ("filters=event:page%3D%3D%2Fa%3Bvisit:exit_page!%3D%2Fb", "visit:exit_page"),
    ])
    func badParametersAre400SayingWhy(query: String, word: String) async throws {
        try await withClient { client, _, key in
            let answer = try await get(client, "/api/v1/events?site_id=\(Self.site)&\(query)", key: key)
            #expect(answer.status == .badRequest, "\(query): \(answer.body)")
            let message = try #require(try json(answer.body)["error"] as? String)
            #expect(message.lowercased().contains(word) || message.contains("filter"), "\(message)")
        }
    }

    @Test func anUnknownFormatIs400AndMissingSiteIs400() async throws {
        try await withClient { client, _, key in
            let format = try await get(client, "/api/v1/export?site_id=\(Self.site)&format=xlsx", key: key)
            #expect(format.status == .badRequest)
            #expect(try json(format.body)["error"] as? String == "Error parsing `format` parameter: use `csv` or `ndjson`.")
            #expect(try await get(client, "/api/v1/events", key: key).status == .badRequest)
        }
    }

    @Test func exportSlotsAreGivenBackWhenAnExportEndsOrIsDropped() {
        let slots = ExportSlots(limit: 2)
        var first = slots.admit()
        let second = slots.admit()
        #expect(first != nil && second != nil)
        #expect(slots.admit() == nil, "a third export at once is refused")
        second?.release()
        second?.release()
        #expect(slots.count == 1, "release is idempotent")
        first = nil
        #expect(slots.count == 0, "a dropped permit frees its slot")
        _ = first
    }
}
