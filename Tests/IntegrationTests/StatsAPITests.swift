import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// The Stats API v1 and v2 through real HTTP (a live server on a loopback port, the real
/// router, the real Redis and nx-27017) over events generated here, checked against numbers
/// this suite computes on its own from those events, by the definitions of Aggregator's doc.
///
/// Tests run one at a time (`.serialized`) on the stats nx-27017: each stores ~3,400 events.
/// The engine's clock is the real one, so the events lie 3 to 13 days in the past (every hour
/// settled) and periods are custom dates computed from the generated range.
/// Tests: v1 in `+v1`, v2 in `+v2`, access, hostile input, time zones and seed 004's `/stats` in `+access`.
@Suite(.serialized) struct StatsAPITests {
    static let day: Int64 = 86_400_000
    /// Midnight UTC 13 days ago: day 0 of the generated events, which cover days 0 to 9.
    static let base: Int64 = {
        let now = Timestamp.nowMillis()
        return now - now % day - 13 * day
    }()
    /// Every metric, in Plausible's order.
    static let allMetrics = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "events"]

    /// One local day of a site: its date and its instants.
    struct LocalDay {
        var label: String
        var range: TimeRange
    }

    /// The local days of `zone` carrying the dates of UTC days `days` after `base`, cut by
    /// Foundation's calendar (not the engine's).
    static func localDays(_ days: ClosedRange<Int>, zone: String = "UTC") -> [LocalDay] {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        var local = Calendar(identifier: .gregorian)
        local.timeZone = TimeZone(identifier: zone) ?? .gmt
        return days.map { offset in
            let noon = Date(timeIntervalSince1970: Double(base + Int64(offset) * day + day / 2) / 1000)
            let date = utc.dateComponents([.year, .month, .day], from: noon)
            let start = local.date(from: date) ?? .distantPast
            let end = local.date(byAdding: .day, value: 1, to: start) ?? start
            let label = String(format: "%04d-%02d-%02d", date.year ?? 0, date.month ?? 0, date.day ?? 0)
            return LocalDay(label: label, range: TimeRange(start: millis(start), end: millis(end)))
        }
    }

    static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// The range from the first day's start to the last day's end.
    static func span(_ days: [LocalDay]) -> TimeRange {
        TimeRange(start: days.first?.range.start ?? 0, end: days.last?.range.end ?? 0)
    }

    /// `A,B` for v1's `period=custom&date=`.
    static func dates(_ days: [LocalDay]) -> String { (days.first?.label ?? "") + "," + (days.last?.label ?? "") }

    /// A site with a generated stream stored, a key for it alone, and a live server on the
    /// real router (no access cache, a rate limit no test reaches). `visits` are added to the
    /// stream before it is stored: `(start, page views)`.
    static func withSite(
        _ site: String = "api.test", timeZone: String = "UTC", isPublic: Bool = false, seed: UInt64 = 21,
        visits: [(Int64, Int)] = [], createdAt: Int64 = base - 30 * day, _ body: @Sendable (Fixture) async throws -> Void
    ) async throws {
        try await TestServers.with(mongo: .stats) { servers in
            _ = try await SiteStore(store: servers.store).add(
                try Site.make(domain: site, timeZone: timeZone, isPublic: isPublic, createdAt: createdAt))
            var stream = EventStream(seed: seed, site: site, start: base, days: 10)
            for (start, pageviews) in visits { _ = stream.addVisit(at: start, pageviews: pageviews) }
            try await stream.storeVaried(in: servers.store)
            let stored = stream
            let key = try await APIKeyStore(store: servers.store).create(name: "api tests", sites: [site], allSites: false, scopes: [], now: 1).key
            try await Application(router: buildRouter(dependencies(servers))).test(.live) { client in
                try await body(Fixture(servers: servers, client: client, stream: stored, site: site, key: key))
            }
        }
    }

    /// The router's dependencies over `servers`: lookups not cached, 10,000 reads per key and hour.
    static func dependencies(_ servers: TestServers) -> IngestDependencies {
        var dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
        dependencies.access = StatsAccess(
            store: servers.store,
            rateLimit: KeyRateLimit(redis: servers.redis, keys: servers.configuration.keys, limit: 10_000, window: .seconds(3600)),
            cacheTTL: .zero, logger: servers.logger)
        return dependencies
    }

    /// What a test works with: the servers, an HTTP client of the live server, the stream
    /// stored for `site`, and a key for `site`.
    struct Fixture: Sendable {
        let servers: TestServers
        let client: any TestClientProtocol
        let stream: EventStream
        let site: String
        let key: String

        /// `GET /api/v1/stats/<endpoint>` for `site` (unless `parameters` name another) with the key.
        func v1(_ endpoint: String, _ parameters: [(String, String)], key: String? = nil) async throws -> Answer {
            let named = parameters.contains { $0.0 == "site_id" } ? parameters : [("site_id", site)] + parameters
            return try await get("/api/v1/stats/" + endpoint, named, key: key ?? self.key)
        }

        /// `POST /api/v2/query` of `body` (`site_id` added when absent) with the key.
        func v2(_ body: [String: Any], key: String? = nil) async throws -> Answer {
            var body = body
            if body["site_id"] == nil { body["site_id"] = site }
            let data = try JSONSerialization.data(withJSONObject: body)
            return try await post("/api/v2/query", String(decoding: data, as: UTF8.self), key: key ?? self.key)
        }

        /// GETs `path` with `parameters` percent-encoded; `key` as a bearer token when given.
        func get(_ path: String, _ parameters: [(String, String)], key: String?) async throws -> Answer {
            let query = parameters.map { $0.0 + "=" + Self.encoded($0.1) }.joined(separator: "&")
            return try await send(query.isEmpty ? path : path + "?" + query, method: .get, body: nil, key: key)
        }

        /// POSTs `body` as JSON to `path`.
        func post(_ path: String, _ body: String, key: String?) async throws -> Answer {
            try await send(path, method: .post, body: ByteBuffer(string: body), key: key)
        }

        /// Sends one request; the status and body.
        func send(_ uri: String, method: HTTPRequest.Method, body: ByteBuffer?, key: String?) async throws -> Answer {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let key { headers[.authorization] = "Bearer " + key }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
                Answer(status: response.status, body: String(buffer: response.body), contentType: response.headers[.contentType])
            }
        }

        /// `text` with everything but unreserved characters, `,` and `:` percent-encoded.
        static func encoded(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~,:")) ?? text
        }
    }

    /// A response as a client reads it.
    struct Answer: Sendable, CustomStringConvertible {
        let status: HTTPResponse.Status
        let body: String
        let contentType: String?

        /// The body parsed as JSON (a bare number too); nil when it is not JSON.
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
        /// The body as a JSON object; empty when it is not one.
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        /// `results` as a list of objects (v1 time series and breakdowns, v2).
        var rows: [[String: Any]] { object["results"] as? [[String: Any]] ?? [] }
        /// The status and the start of the body, for failure messages.
        var description: String { "\(status.code) \(body.prefix(300))" }
    }

    /// A JSON number as a Double; nil for anything else.
    static func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
}

extension EventStream {
    /// The source stored for a visit: one of four, by its id.
    static func source(of session: Int64) -> String {
        ["Google", "Direct / None", "Twitter", "Bing"][Int(UInt64(bitPattern: session) % 4)]
    }

    /// The user id stored with an event: one of 40 per visitor, none for a third of the visits.
    static func user(of event: Generated) -> String? {
        UInt64(bitPattern: event.session) % 3 == 0 ? nil : "user-\(UInt64(bitPattern: event.visitor) % 40)"
    }

    /// Stores every event with its visit's source and its user id (`source(of:)`, `user(of:)`).
    func storeVaried(in store: MongoStore) async throws {
        let stored = events.map { generated in
            StoredEvent(Event(
                eventID: generated.id, siteID: site, eventType: generated.path == nil ? "signup" : "page_view", path: generated.path,
                userID: Self.user(of: generated), timestamp: generated.timestamp, receivedAt: generated.timestamp,
                visit: VisitFields(
                    visitorID: generated.visitor, sessionID: generated.session, hostname: "example.com", referrer: nil,
                    source: Self.source(of: generated.session), utmMedium: nil, utmSource: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil,
                    browser: "Firefox", browserVersion: "120", os: "Linux", osVersion: "", device: "Desktop", country: "FR")))
        }
        for start in stride(from: 0, to: stored.count, by: 500) {
            let report = try await store.insert(Array(stored[start..<min(start + 500, stored.count)]))
            #expect(report.failures.isEmpty)
        }
    }

    /// The visits (events grouped by session, earliest first) that start in `range`.
    func visits(startingIn range: TimeRange) -> [[Generated]] {
        Dictionary(grouping: events, by: \.session).values
            .map { $0.sorted { $0.timestamp < $1.timestamp } }
            .filter { range.contains($0.first?.timestamp ?? .min) }
    }

    /// The metrics of `range` under a filter that `passes` says which events pass: event
    /// metrics count the passing events inside the range, visit metrics the visits starting in
    /// it with at least one passing event, whole.
    func truth(in range: TimeRange, where passes: (Generated) -> Bool) -> Truth {
        let inside = events.filter { range.contains($0.timestamp) && passes($0) }
        let visits = visits(startingIn: range).filter { $0.contains(where: passes) }
        return Truth(
            pageviews: inside.filter { $0.path != nil }.count, events: inside.count, visitors: Set(inside.map(\.visitor)).count,
            visits: visits.count, bounces: visits.filter { $0.count == 1 && $0.first?.path != nil }.count,
            durationMillis: visits.reduce(0) { $0 + ($1.last?.timestamp ?? 0) - ($1.first?.timestamp ?? 0) })
    }

    /// The metrics of the visits starting in `range` grouped by `key` of their first event, as
    /// a `visit:*` breakdown counts them: visitors, page views and events of those visits, whole.
    func truthByVisit(in range: TimeRange, key: (Generated) -> String) -> [String: Truth] {
        var groups: [String: [[Generated]]] = [:]
        for visit in visits(startingIn: range) {
            guard let first = visit.first else { continue }
            groups[key(first), default: []].append(visit)
        }
        return groups.mapValues { visits in
            let all = visits.flatMap { $0 }
            return Truth(
                pageviews: all.filter { $0.path != nil }.count, events: all.count, visitors: Set(all.map(\.visitor)).count,
                visits: visits.count, bounces: visits.filter { $0.count == 1 && $0.first?.path != nil }.count,
                durationMillis: visits.reduce(0) { $0 + ($1.last?.timestamp ?? 0) - ($1.first?.timestamp ?? 0) })
        }
    }

    /// Every page the stream has, sorted.
    var pages: [String] { Set(events.compactMap(\.path)).sorted() }
}

extension EventStream.Truth {
    /// The value of a metric (Plausible's name) as Plausible writes it: counts, the bounce rate
    /// in whole percent, the mean visit duration in whole seconds, views per visit to 0.01.
    func value(_ metric: String) -> Double {
        switch metric {
        case "visitors": Double(visitors)
        case "visits": Double(visits)
        case "pageviews": Double(pageviews)
        case "events": Double(events)
        case "bounce_rate": visits == 0 ? 0 : (Double(bounces) / Double(visits) * 100).rounded()
        case "visit_duration": visits == 0 ? 0 : (Double(durationMillis) / 1000 / Double(visits)).rounded()
        case "views_per_visit": visits == 0 ? 0 : (Double(pageviews) / Double(visits) * 100).rounded() / 100
        default: .nan
        }
    }
}
