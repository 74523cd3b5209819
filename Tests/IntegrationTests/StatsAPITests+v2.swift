import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// The Stats API v2 (`POST /api/v2/query`) against the truth.
extension StatsAPITests {
    /// `[A, B]` for v2's `date_range`.
    static func dateRange(_ days: [LocalDay]) -> [String] { [days.first?.label ?? "", days.last?.label ?? ""] }

    /// `value` written as JSON with sorted keys, to compare two JSON values.
    static func canonical(_ value: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    /// The metric values of a v2 row.
    static func metricValues(_ row: [String: Any]) -> [Double] { (row["metrics"] as? [Any] ?? []).compactMap { number($0) } }

    @Test func v2AggregateAndDailySeriesEqualTheTruthWithTimeLabelsAndTotalRows() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let truth = site.stream.truth(in: Self.span(days)) { _ in true }
            let answer = try await site.v2(["metrics": Self.allMetrics, "date_range": Self.dateRange(days)])
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.rows.count == 1)
            let row = try #require(answer.rows.first)
            #expect(Self.metricValues(row) == Self.allMetrics.map(truth.value))
            #expect((row["dimensions"] as? [Any])?.isEmpty == true)
            let query = answer.object["query"] as? [String: Any]
            #expect(query?["date_range"] as? [String] == [Self.dateRange(days)[0] + "T00:00:00+00:00", Self.dateRange(days)[1] + "T23:59:59+00:00"])

            let wide = Self.localDays(-2...12)
            let metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration"]
            let series = try await site.v2([
                "metrics": metrics, "date_range": Self.dateRange(wide), "dimensions": ["time:day"],
                "include": ["time_labels": true, "total_rows": true],
            ])
            #expect(series.status == .ok, "\(series)")
            // Only days with data are rows (Plausible's v2); time_labels lists every day.
            let busy = wide.filter { day in site.stream.events.contains { day.range.contains($0.timestamp) } }
            #expect(busy.count >= 10 && busy.count < wide.count)
            #expect(series.rows.map { ($0["dimensions"] as? [String])?.first } == busy.map(\.label), "time ascending")
            for (row, day) in zip(series.rows, busy) {
                let truth = site.stream.truth(in: day.range) { _ in true }
                #expect(Self.metricValues(row) == metrics.map(truth.value), "\(day.label)")
            }
            let meta = series.object["meta"] as? [String: Any]
            #expect(meta?["time_labels"] as? [String] == wide.map(\.label))
            #expect(Self.number(meta?["total_rows"]) == Double(busy.count))
            let echo = series.object["query"] as? [String: Any]
            #expect(echo?["dimensions"] as? [String] == ["time:day"])
            #expect(echo?["order_by"] as? [[String]] == [["time:day", "asc"], ["visitors", "desc"]])
            let sums = (0..<4).map { index in series.rows.reduce(0.0) { $0 + (Self.metricValues($1).dropFirst(index).first ?? .nan) } }
            let whole = site.stream.truth(in: Self.span(wide)) { _ in true }
            #expect(Array(sums.dropFirst()) == ["visits", "pageviews", "events"].map(whole.value), "the days add up to the whole range")
        }
    }

    @Test func v2PagesAreOrderedAndPaginatedWithTotalRows() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let period = Self.span(days)
            let metrics = ["pageviews", "visitors", "visits", "bounce_rate"]
            let expected = site.stream.pages.map { page in (page, site.stream.truth(in: period) { $0.path == page }) }
                .sorted { ($0.1.pageviews, $1.0) > ($1.1.pageviews, $0.0) }
            let answer = try await site.v2([
                "metrics": metrics, "date_range": Self.dateRange(days), "dimensions": ["event:page"],
                "order_by": [["pageviews", "desc"]], "pagination": ["limit": 5, "offset": 5], "include": ["total_rows": true],
            ])
            #expect(answer.status == .ok, "\(answer)")
            let page = Array(expected[5..<10])
            #expect(answer.rows.map { ($0["dimensions"] as? [String])?.first } == page.map(\.0), "by page views, then by page")
            for (row, (path, truth)) in zip(answer.rows, page) {
                #expect(Self.metricValues(row) == metrics.map(truth.value), "\(path)")
            }
            #expect(Self.number((answer.object["meta"] as? [String: Any])?["total_rows"]) == 12)
            let pagination = (answer.object["query"] as? [String: Any])?["pagination"] as? [String: Any]
            #expect(Self.number(pagination?["limit"]) == 5 && Self.number(pagination?["offset"]) == 5)

            let byName = try await site.v2([
                "metrics": ["visitors"], "date_range": Self.dateRange(days), "dimensions": ["event:page"],
                "order_by": [["event:page", "asc"]], "pagination": ["limit": 4],
            ])
            #expect(byName.rows.map { ($0["dimensions"] as? [String])?.first } == ["/p0", "/p1", "/p10", "/p11"])
            let past = try await site.v2([
                "metrics": ["visitors"], "date_range": Self.dateRange(days), "dimensions": ["event:page"], "pagination": ["offset": 12],
                "include": ["total_rows": true],
            ])
            #expect(past.status == .ok && past.rows.isEmpty)
            #expect(Self.number((past.object["meta"] as? [String: Any])?["total_rows"]) == 12)
        }
    }

    /// v2 filters and which events they let through, by the definitions.
    static var v2Filters: [([Any], @Sendable (EventStream.Generated) -> Bool)] {
        [
            ([["is", "event:page", ["/p1", "/p2"]]], { ["/p1", "/p2"].contains($0.path ?? "") }),
            ([["is_not", "event:page", ["/p1", "/p2"]]], { !["/p1", "/p2"].contains($0.path ?? "") }),
            ([["contains", "event:page", ["1"]]], { ($0.path ?? "").contains("1") }),
            ([["contains_not", "event:page", ["1"]]], { !($0.path ?? "").contains("1") }),
            ([["or", [["is", "event:page", ["/p3"]], ["contains", "event:page", ["/p1"]]]]], { $0.path == "/p3" || ($0.path ?? "").contains("/p1") }),
            ([["and", [["is", "event:page", ["/p1", "/p2"]], ["is", "visit:source", ["Google"]]]]],
             { ["/p1", "/p2"].contains($0.path ?? "") && EventStream.source(of: $0.session) == "Google" }),
            ([["not", ["is", "visit:source", ["Google"]]]], { EventStream.source(of: $0.session) != "Google" }),
            ([["is", "visit:source", ["Twitter", "Bing"]], ["contains_not", "event:page", ["2"]]],
             { ["Twitter", "Bing"].contains(EventStream.source(of: $0.session)) && !($0.path ?? "").contains("2") }),
            ([["or", [["not", ["is", "visit:source", ["Google", "Bing"]]], ["is", "event:page", ["/p4"]]]]],
             { !["Google", "Bing"].contains(EventStream.source(of: $0.session)) || $0.path == "/p4" }),
        ]
    }

    @Test func v2FiltersWithAndOrNotChangeTheNumbersAsTheTruthSays() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration"]
            for (filters, passes) in Self.v2Filters {
                let truth = site.stream.truth(in: Self.span(days), where: passes)
                let answer = try await site.v2(["metrics": metrics, "date_range": Self.dateRange(days), "filters": filters])
                #expect(answer.status == .ok, "\(filters): \(answer)")
                #expect(Self.metricValues(answer.rows.first ?? [:]) == metrics.map(truth.value), "\(filters)")
                let echoed = (answer.object["query"] as? [String: Any])?["filters"] as? [Any]
                #expect(try Self.canonical(echoed ?? []) == Self.canonical(filters), "query.filters echoes the filters")
            }
        }
    }

    /// Plausible (stats-api.md, "Behavioral filters"): "our Stats API selects only events which
    /// match all event filters", and a visit counts when one of its events matches: under
    /// `and`/`not` of event conditions, no visit is counted whose events are all filtered out.
    @Test
    func v2VisitsUnderAndNotOfEventConditionsNeedOneMatchingEvent() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let metrics = ["visits", "pageviews", "bounce_rate", "visit_duration"]
            let cases: [([Any], @Sendable (EventStream.Generated) -> Bool)] = [
                ([["and", [["contains", "event:page", ["/p1"]], ["not", ["is", "event:page", ["/p1"]]]]]], { $0.path == "/p10" || $0.path == "/p11" }),
                ([["is", "event:page", ["/p1"]], ["is", "event:page", ["/p2"]]], { _ in false }),
            ]
            for (filters, passes) in cases {
                let truth = site.stream.truth(in: Self.span(days), where: passes)
                let answer = try await site.v2(["metrics": metrics, "date_range": Self.dateRange(days), "filters": filters])
                #expect(Self.metricValues(answer.rows.first ?? [:]) == metrics.map(truth.value), "\(filters)")
            }
            let v1 = try await site.v1("aggregate", [
                ("period", "custom"), ("date", Self.dates(days)), ("metrics", "visits,pageviews"), ("filters", "event:page==/p1;event:page==/p2"),
            ])
            let results = v1.object["results"] as? [String: Any]
            #expect(Self.number((results?["visits"] as? [String: Any])?["value"]) == 0, "no event is on two pages: \(v1)")
        }
    }

    /// Events are accepted before their site is added; `all` starts at the first of them, not
    /// at the site's creation.
    @Test func v2AllStartsAtTheFirstEventWhenItCameBeforeTheSite() async throws {
        try await Self.withSite(createdAt: Self.base + 5 * Self.day) { site in
            let answer = try await site.v2(["metrics": ["pageviews", "visits"], "date_range": "all"])
            #expect(answer.status == .ok, "\(answer)")
            let truth = site.stream.truth(in: TimeRange(start: Self.base, end: Timestamp.nowMillis() + Self.day)) { _ in true }
            #expect(Self.metricValues(answer.rows.first ?? [:]) == [truth.value("pageviews"), truth.value("visits")], "\(answer)")
            // One event from a device whose clock reads 1970 does not make `all` too long to answer.
            _ = try await site.servers.store.insert([StoredEvent(Event(
                eventID: "epoch", siteID: site.site, eventType: "page_view", path: "/", timestamp: 0, receivedAt: 0))])
            let after = try await site.v2(["metrics": ["pageviews"], "date_range": "all"])
            #expect(after.status == .ok, "\(after)")
        }
    }

    @Test func v2RegularExpressionFiltersAreRefusedWith400() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let filters: [[Any]] = [
                [["matches", "event:page", ["^/p(1|2)$"]]],
                [["matches_not", "event:page", ["(a+)+$"]]],
                [["or", [["is", "event:page", ["/p1"]], ["matches", "event:page", ["^/p"]]]]],
                [["not", ["matches", "visit:source", [".*"]]]],
            ]
            for filter in filters {
                let answer = try await site.v2(["metrics": ["visitors"], "date_range": Self.dateRange(days), "filters": filter])
                #expect(answer.status == .badRequest, "\(filter): \(answer)")
                #expect((answer.object["error"] as? String)?.contains("matches") == true, "\(answer)")
            }
        }
    }
}
