import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// Who may read what, hostile requests, a site's time zone, and seed 004's `/stats` next to the engine.
extension StatsAPITests {
    @Test func aKeyReadsItsOwnSiteOnlyAndAPublicSiteNeedsNone() async throws {
        try await Self.withSite("private.test") { site in
            let sites = SiteStore(store: site.servers.store)
            _ = try await sites.add(try Site.make(domain: "other.test", createdAt: 1))
            _ = try await sites.add(try Site.make(domain: "public.test", isPublic: true, createdAt: 1))
            let other = EventStream(seed: 5, site: "other.test", start: Self.base, days: 2)
            let open = EventStream(seed: 6, site: "public.test", start: Self.base, days: 2)
            try await other.storeVaried(in: site.servers.store)
            try await open.storeVaried(in: site.servers.store)
            let otherKey = try await APIKeyStore(store: site.servers.store).create(name: "other", sites: ["other.test"], allSites: false, scopes: [], now: 1).key
            let days = Self.localDays(0...9)
            let missing = "Missing API key. Please use a valid API key as a Bearer Token."
            let invalid = "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested."
            let cases: [(site: String, key: String?, status: HTTPResponse.Status, error: String?)] = [
                ("private.test", nil, .unauthorized, missing),
                ("private.test", otherKey, .unauthorized, invalid),
                ("private.test", "not-a-key", .unauthorized, invalid),
                ("private.test", site.key, .ok, nil),
                ("other.test", site.key, .unauthorized, invalid),
                ("never-added.test", site.key, .unauthorized, invalid),
                ("other.test", otherKey, .ok, nil),
                ("public.test", nil, .ok, nil),
                ("public.test", otherKey, .ok, nil),
            ]
            let truths = ["private.test": site.stream, "other.test": other, "public.test": open].mapValues { stream in
                stream.truth(in: Self.span(days)) { _ in true }.pageviews
            }
            for (name, key, status, error) in cases {
                let headers = key.map { "Bearer " + $0 }
                let v1 = try await site.send(
                    "/api/v1/stats/aggregate?site_id=\(name)&period=custom&date=\(Self.dates(days))&metrics=pageviews", method: .get, body: nil, key: key)
                let body = #"{"site_id": "\#(name)", "metrics": ["pageviews"], "date_range": ["\#(days[0].label)", "\#(days[9].label)"]}"#
                let v2 = try await site.post("/api/v2/query", body, key: key)
                let realtime = try await site.send("/api/v1/stats/realtime/visitors?site_id=\(name)", method: .get, body: nil, key: key)
                for answer in [v1, v2, realtime] {
                    #expect(answer.status == status, "\(name) with \(headers ?? "no key"): \(answer)")
                    if let error { #expect(answer.object["error"] as? String == error, "\(name): \(answer)") }
                }
                guard status == .ok else { continue }
                // Each site's own events, none of another's.
                let results = v1.object["results"] as? [String: Any]
                #expect(Self.number((results?["pageviews"] as? [String: Any])?["value"]) == truths[name].map(Double.init), "\(name)")
                #expect(Self.metricValues(v2.rows.first ?? [:]) == [truths[name].map(Double.init) ?? -1], "\(name)")
            }
        }
    }

    /// Requests no client should send: each is refused with 4xx and `{"error": "…"}`, none is a 5xx.
    static var hostileV1: [(String, [(String, String)])] {
        let dates = Self.dates(Self.localDays(1...8))
        let custom = [("period", "custom"), ("date", dates)]
        return [
            ("aggregate", custom + [("metrics", "visitors,bogus")]),
            ("aggregate", custom + [("metrics", "conversion_rate")]),
            ("aggregate", custom + [("metrics", "visitors,visitors")]),
            ("aggregate", custom + [("metrics", "")]),
            ("aggregate", [("period", "fortnight")]),
            ("aggregate", [("period", "custom")]),
            ("aggregate", [("period", "custom"), ("date", "2026-02-30,2026-03-01")]),
            ("aggregate", [("period", "custom"), ("date", "2026-03-01,2026-02-01")]),
            ("aggregate", [("period", "custom"), ("date", "1900-01-01,2999-12-31")]),
            ("aggregate", [("period", "day"), ("date", "yesterday")]),
            ("aggregate", custom + [("compare", "last_year")]),
            ("aggregate", custom + [("filters", "event:page")]),
            ("aggregate", custom + [("filters", "event:page==")]),
            ("aggregate", custom + [("filters", "==/p1")]),
            ("aggregate", custom + [("filters", "event:page==/a==/b")]),
            ("aggregate", custom + [("filters", "event:nope==/p1")]),
            ("aggregate", custom + [("filters", "visit:country==FRA")]),
            ("aggregate", custom + [("filters", "event:page==" + String(repeating: "/p1|", count: 5000))]),
            ("aggregate", custom + [("filters", String(repeating: "event:page==/p1;", count: 100))]),
            ("aggregate", custom + [("filters", "event:props:plan==pro"), ("metrics", "visits,bounce_rate")]),
            ("timeseries", custom + [("interval", "minute")]),
            ("breakdown", custom),
            ("breakdown", custom + [("property", "event:bogus")]),
            ("breakdown", custom + [("property", "visit:city")]),
            ("breakdown", custom + [("property", "event:page"), ("limit", "100000000")]),
            ("breakdown", custom + [("property", "event:page"), ("limit", "99999999999999999999999")]),
            ("breakdown", custom + [("property", "event:page"), ("limit", "0")]),
            ("breakdown", custom + [("property", "event:page"), ("page", "-1")]),
            ("breakdown", custom + [("property", "event:name"), ("metrics", "bounce_rate")]),
            ("breakdown", custom + [("property", "event:page"), ("metrics", "views_per_visit")]),
        ]
    }

    /// v2 bodies no client should send.
    static var hostileV2: [String] {
        let range = #""date_range": ["\#(Self.localDays(1...1)[0].label)", "\#(Self.localDays(8...8)[0].label)"]"#
        let site = #""site_id": "api.test""#
        return [
            "not json", "", "[1, 2]", "null", "{", #"{"site_id": "api.test""#,
            String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000),
            #"{\#(site), "metrics": ["visitors"]}"#,
            #"{\#(site), "metrics": [], \#(range)}"#,
            #"{\#(site), "metrics": ["bogus"], \#(range)}"#,
            #"{\#(site), "metrics": "visitors", \#(range)}"#,
            #"{\#(site), "metrics": ["visitors"], "date_range": "forever"}"#,
            #"{\#(site), "metrics": ["visitors"], "date_range": ["2026-13-01", "2026-01-01"]}"#,
            #"{\#(site), "metrics": ["visitors"], "date_range": ["1000-01-01", "9999-12-31"]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "dimensions": ["time:minute"]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "dimensions": ["event:bogus"]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "filters": "event:page==/p1"}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "filters": [["is", "event:page", "/p1"]]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "filters": [["xor", "event:page", ["/p1"]]]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "filters": [["is", {"$ne": 1}, ["/p1"]]]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "filters": [\#(String(repeating: #"["not", "#, count: 30))["is", "event:page", ["/p1"]]\#(String(repeating: "]", count: 30))]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "order_by": [["pageviews", "desc"]]}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "pagination": {"limit": 100000000}}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "pagination": {"limit": 1e300}}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "pagination": {"offset": -1}}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "include": {"time_labels": true}}"#,
            #"{\#(site), "metrics": ["visitors"], \#(range), "$where": "1"}"#,
            #"{"site_id": {"$gt": ""}, "metrics": ["visitors"], \#(range)}"#,
            #"{\#(site), "metrics": ["visitors"], "dimensions": ["time:hour"], "date_range": ["2000-01-01", "2026-01-01"]}"#,
            "{" + site + #", "metrics": ["visitors"], "x": ""# + String(repeating: "a", count: 70_000) + #""}"#,
        ]
    }

    @Test func hostileRequestsAreRefusedWithAJSONErrorNeverA5xx() async throws {
        try await Self.withSite { site in
            for (endpoint, parameters) in Self.hostileV1 {
                let answer = try await site.v1(endpoint, parameters)
                #expect((400..<500).contains(answer.status.code), "\(endpoint) \(parameters.map { "\($0.0)=\($0.1.prefix(60))" }): \(answer)")
                #expect(answer.object.keys.sorted() == ["error"] && answer.object["error"] is String, "\(answer)")
            }
            for body in Self.hostileV2 {
                let answer = try await site.post("/api/v2/query", body, key: site.key)
                #expect((400..<500).contains(answer.status.code), "\(body.prefix(120)): \(answer)")
                #expect(answer.object.keys.sorted() == ["error"] && answer.object["error"] is String, "\(body.prefix(120)): \(answer)")
            }
            // Values are data, never operators or patterns: odd ones match nothing, and are no error.
            for value in ["/p1\u{0}", #"{"$ne": null}"#, ".*", "/p1\\|/p2", "/\u{1F600}", "' OR 1=1 --"] {
                let answer = try await site.v1("aggregate", [
                    ("period", "custom"), ("date", Self.dates(Self.localDays(1...8))), ("metrics", "pageviews,visits"), ("filters", "event:page==" + value),
                ])
                #expect(answer.status == .ok, "\(value): \(answer)")
                let results = answer.object["results"] as? [String: Any]
                #expect(Self.number((results?["pageviews"] as? [String: Any])?["value"]) == 0, "\(value): \(answer)")
            }
            // A page far past the end is an empty answer, not an overflow.
            let far = try await site.v1("breakdown", [
                ("period", "custom"), ("date", Self.dates(Self.localDays(1...8))), ("property", "event:page"), ("limit", "1000"),
                ("page", String(Int.max)),
            ])
            #expect(far.status == .ok && far.rows.isEmpty, "\(far)")
        }
    }

    /// A long period over a small site costs the hours that hold events, not the hours of the
    /// period: 7 years (61,000 hours) over a few days of events answer like those days do (the
    /// client's read timeout would fail the test otherwise).
    @Test func aLongPeriodOverFewEventsAnswersWithTheirNumbers() async throws {
        try await Self.withSite { site in
            let last = Self.localDays(12...12)[0]
            let answer = try await site.v1("aggregate", [("period", "custom"), ("date", "2020-01-01," + last.label), ("metrics", "pageviews,visits")])
            #expect(answer.status == .ok, "\(answer)")
            let truth = site.stream.truth(in: TimeRange(start: 1_577_836_800_000, end: last.range.end)) { _ in true }
            let results = answer.object["results"] as? [String: Any]
            #expect(Self.number((results?["pageviews"] as? [String: Any])?["value"]) == truth.value("pageviews"), "\(answer)")
            #expect(Self.number((results?["visits"] as? [String: Any])?["value"]) == truth.value("visits"), "\(answer)")
        }
    }

    @Test func aParisSitesDaysStartAtParisMidnight() async throws {
        // Visits a few minutes either side of Paris midnight (22:55 and 23:05 UTC in winter).
        let paris = Self.localDays(1...8, zone: "Europe/Paris")
        let near = paris.prefix(4).flatMap { day in [(day.range.start - 300_000, 1), (day.range.start + 300_000, 2)] }
        try await Self.withSite("paris.test", timeZone: "Europe/Paris", isPublic: true, visits: near) { site in
            let utc = Self.localDays(1...8)
            let metrics = ["visitors", "visits", "pageviews", "events"]
            let answer = try await site.v1("timeseries", [
                ("period", "custom"), ("date", Self.dates(paris)), ("metrics", metrics.joined(separator: ",")),
            ])
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.rows.map { $0["date"] as? String } == paris.map(\.label))
            var differsFromUTC = false
            for (row, (day, utcDay)) in zip(answer.rows, zip(paris, utc)) {
                let truth = site.stream.truth(in: day.range) { _ in true }
                let expected = metrics.map(truth.value)
                #expect(metrics.map { Self.number(row[$0]) ?? .nan } == expected, "\(day.label) in Paris")
                let utcTruth = site.stream.truth(in: utcDay.range) { _ in true }
                differsFromUTC = differsFromUTC || metrics.map(utcTruth.value) != expected
            }
            #expect(differsFromUTC, "the data tells Paris days from UTC days")

            let series = try await site.v2([
                "metrics": ["pageviews"], "date_range": Self.dateRange(paris), "dimensions": ["time:day"], "include": ["time_labels": true],
            ])
            #expect(series.status == .ok, "\(series)")
            #expect((series.object["meta"] as? [String: Any])?["time_labels"] as? [String] == paris.map(\.label))
            let echo = (series.object["query"] as? [String: Any])?["date_range"] as? [String]
            #expect(echo == [paris[0].label + "T00:00:00+01:00", paris[7].label + "T23:59:59+01:00"])
            for row in series.rows {
                let label = (row["dimensions"] as? [String])?.first
                let day = try #require(paris.first { $0.label == label }, "\(row)")
                #expect(Self.metricValues(row) == [Double(site.stream.truth(in: day.range) { _ in true }.pageviews)], "\(day.label)")
            }
        }
    }

    @Test func seedStatsAnswersWhatTheEngineAndTheRawPipelineAnswer() async throws {
        try await Self.withSite(isPublic: true) { site in
            let day = Self.localDays(4...4)[0]
            let answer = try await site.get("/stats", [("site_id", site.site), ("date", day.label)], key: nil)
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.object["success"] as? Bool == true)
            let stats = try #require(answer.object["stats"] as? [String: Any])
            let views = site.stream.events.filter { day.range.contains($0.timestamp) && $0.path != nil }
            let users = Set(views.compactMap(EventStream.user(of:)))
            #expect(users.count > 5 && views.contains { EventStream.user(of: $0) == nil }, "the day has user ids, not on every page view")
            #expect(Self.number(stats["total_views"]) == Double(views.count))
            #expect(Self.number(stats["unique_users"]) == Double(users.count))

            let query = try StatsQuery(siteID: site.site, date: day.label, limit: nil)
            let engine = QueryEngine(store: site.servers.store, logger: site.servers.logger)
            let fromEngine = query.report(from: try await engine.run(query.request))
            let fromPipeline = try query.report(fromAggregate: try await site.servers.store.aggregate(pipelineJSON: query.pipelineJSON))
            let served = try JSONDecoder().decode(StatsReport.self, from: JSONSerialization.data(withJSONObject: stats))
            #expect(served == fromEngine)
            // The raw pipeline (the bench's baseline) agrees on views and paths; its total of
            // users is one too many on nx-27017, whose $addToSet keeps a missing userid as null
            // that $setDifference does not remove (reported, not the /stats answer).
            #expect(served.totalViews == fromPipeline.totalViews && served.topPaths == fromPipeline.topPaths)
            #expect(answer.body.hasPrefix(#"{"success":true,"stats":{"site_id":"api.test","date":""#), "seed 004's shape: \(answer)")

            let v1 = try await site.v1("aggregate", [("period", "day"), ("date", day.label), ("metrics", "pageviews")])
            let pageviews = ((v1.object["results"] as? [String: Any])?["pageviews"] as? [String: Any])?["value"]
            #expect(Self.number(pageviews) == Double(fromEngine.totalViews), "v1 and /stats count the same page views")
        }
    }
}
