import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// The Stats API v1 (`/api/v1/stats/*`) against the truth.
extension StatsAPITests {
    @Test func v1AggregateWithEveryMetricAndItsComparisonEqualTheTruth() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let truth = site.stream.truth(in: Self.span(days)) { _ in true }
            let answer = try await site.v1("aggregate", [("period", "custom"), ("date", Self.dates(days)), ("metrics", Self.allMetrics.joined(separator: ","))])
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.contentType?.hasPrefix("application/json") == true)
            let results = try #require(answer.object["results"] as? [String: Any], "\(answer)")
            #expect(Set(results.keys) == Set(Self.allMetrics))
            for metric in Self.allMetrics {
                let entry = results[metric] as? [String: Any]
                #expect(entry?.keys.sorted() == ["value"], "\(metric)")
                #expect(Self.number(entry?["value"]) == truth.value(metric), "\(metric)")
            }
            #expect(truth.visits > 100 && truth.bounces > 0 && truth.events > truth.pageviews, "the stream exercises every metric")

            // The previous period: the 8 days before, of which only day 0 has events.
            let previous = site.stream.truth(in: Self.span(Self.localDays(-7...0))) { _ in true }
            #expect(previous.visits > 0)
            let compared = try await site.v1("aggregate", [
                ("period", "custom"), ("date", Self.dates(days)), ("metrics", Self.allMetrics.joined(separator: ",")), ("compare", "previous_period"),
            ])
            #expect(compared.status == .ok, "\(compared)")
            let entries = try #require(compared.object["results"] as? [String: Any])
            for metric in Self.allMetrics {
                let entry = try #require(entries[metric] as? [String: Any], "\(metric)")
                #expect(entry.keys.sorted() == ["change", "comparison_value", "value"], "\(metric)")
                let (now, before) = (truth.value(metric), previous.value(metric))
                #expect(Self.number(entry["value"]) == now, "\(metric)")
                #expect(Self.number(entry["comparison_value"]) == before, "\(metric)")
                let change = metric == "bounce_rate" ? (now - before).rounded() : ((now - before) / before * 100).rounded()
                #expect(Self.number(entry["change"]) == change, "\(metric) change")
            }
        }
    }

    @Test func v1TimeseriesHasEveryDayEmptyOnesAsZerosAndSumsToTheAggregate() async throws {
        try await Self.withSite { site in
            // Days -2, -1, 11 and 12 have no events; day 10 only the ends of day 9's late visits.
            let days = Self.localDays(-2...12)
            let metrics = ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "events"]
            let answer = try await site.v1("timeseries", [
                ("period", "custom"), ("date", Self.dates(days)), ("interval", "day"), ("metrics", metrics.joined(separator: ",")),
            ])
            #expect(answer.status == .ok, "\(answer)")
            let rows = answer.rows
            try #require(rows.count == days.count, "\(answer)")
            #expect(rows.map { $0["date"] as? String } == days.map(\.label))
            for (row, day) in zip(rows, days) {
                #expect(Set(row.keys) == Set(metrics + ["date"]), "\(day.label)")
                let truth = site.stream.truth(in: day.range) { _ in true }
                for metric in metrics { #expect(Self.number(row[metric]) == truth.value(metric), "\(day.label) \(metric)") }
            }
            for empty in [0, 1, 13, 14] {
                #expect(metrics.allSatisfy { Self.number(rows[empty][$0]) == 0 }, "an empty day has zeros: \(rows[empty])")
            }
            let total = try await site.v1("aggregate", [("period", "custom"), ("date", Self.dates(days)), ("metrics", "visits,pageviews,events")])
            let totals = try #require(total.object["results"] as? [String: Any])
            for metric in ["visits", "pageviews", "events"] {
                let sum = rows.reduce(0) { $0 + (Self.number($1[metric]) ?? .nan) }
                #expect(sum == Self.number((totals[metric] as? [String: Any])?["value"]), "the days' \(metric) add up to the aggregate")
            }
            // The default metric and interval of a custom period: visitors by day.
            let plain = try await site.v1("timeseries", [("period", "custom"), ("date", Self.dates(days))])
            #expect(plain.rows.map { $0.keys.sorted() } == Array(repeating: ["date", "visitors"], count: days.count))
        }
    }

    @Test func v1BreakdownByPageIsPagedAndBySourceCountsWholeVisits() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let period = Self.span(days)
            let metrics = ["visitors", "pageviews", "visits", "bounce_rate", "visit_duration", "events"]
            let expected = site.stream.pages.map { page in (page, site.stream.truth(in: period) { $0.path == page }) }
                .sorted { ($0.1.visitors, $1.0) > ($1.1.visitors, $0.0) }
            #expect(expected.count == 12)
            var seen: [[String: Any]] = []
            for page in 1...4 {
                let answer = try await site.v1("breakdown", [
                    ("period", "custom"), ("date", Self.dates(days)), ("property", "event:page"), ("metrics", metrics.joined(separator: ",")),
                    ("limit", "5"), ("page", String(page)),
                ])
                #expect(answer.status == .ok, "\(answer)")
                #expect(answer.rows.count == [5, 5, 2, 0][page - 1], "page \(page)")
                seen += answer.rows
            }
            #expect(seen.map { $0["page"] as? String } == expected.map(\.0), "by visitors, largest first, then by page")
            for (row, (page, truth)) in zip(seen, expected) {
                #expect(Set(row.keys) == Set(metrics + ["page"]))
                for metric in metrics { #expect(Self.number(row[metric]) == truth.value(metric), "\(page) \(metric)") }
            }

            let bySource = site.stream.truthByVisit(in: period) { EventStream.source(of: $0.session) }
            let sourceMetrics = ["visits", "visitors", "pageviews", "events", "bounce_rate", "visit_duration"]
            let answer = try await site.v1("breakdown", [
                ("period", "custom"), ("date", Self.dates(days)), ("property", "visit:source"), ("metrics", sourceMetrics.joined(separator: ",")),
            ])
            #expect(answer.status == .ok, "\(answer)")
            let order = bySource.sorted { ($0.value.visits, $1.key) > ($1.value.visits, $0.key) }.map(\.key)
            #expect(answer.rows.map { $0["source"] as? String } == order)
            for row in answer.rows {
                let source = row["source"] as? String ?? ""
                let truth = try #require(bySource[source])
                for metric in sourceMetrics { #expect(Self.number(row[metric]) == truth.value(metric), "\(source) \(metric)") }
            }
        }
    }

    /// Filters and which events they let through, by the definitions.
    static let v1Filters: [(String, @Sendable (EventStream.Generated) -> Bool)] = [
        ("event:page==/p1|/p2", { ["/p1", "/p2"].contains($0.path ?? "") }),
        ("event:page==/p1*", { $0.path?.hasPrefix("/p1") == true }),
        ("event:page==/p*", { $0.path != nil }),
        ("event:page!=/p1", { $0.path != "/p1" }),
        ("visit:source==Google", { EventStream.source(of: $0.session) == "Google" }),
        ("visit:source==Google|Bing;event:page==/p3", { ["Google", "Bing"].contains(EventStream.source(of: $0.session)) && $0.path == "/p3" }),
    ]

    @Test func v1FiltersChangeTheNumbersAsTheTruthSays() async throws {
        try await Self.withSite { site in
            let days = Self.localDays(1...8)
            let metrics = ["visitors", "visits", "pageviews", "events", "bounce_rate", "visit_duration"]
            let everything = site.stream.truth(in: Self.span(days)) { _ in true }
            for (filter, passes) in Self.v1Filters {
                let truth = site.stream.truth(in: Self.span(days), where: passes)
                #expect(truth.visits > 0 && (truth.pageviews < everything.pageviews || truth.events < everything.events), "\(filter) filters something")
                let answer = try await site.v1("aggregate", [
                    ("period", "custom"), ("date", Self.dates(days)), ("metrics", metrics.joined(separator: ",")), ("filters", filter),
                ])
                #expect(answer.status == .ok, "\(filter): \(answer)")
                let results = answer.object["results"] as? [String: Any]
                for metric in metrics {
                    #expect(Self.number((results?[metric] as? [String: Any])?["value"]) == truth.value(metric), "\(filter) \(metric)")
                }
            }
            // The filter as clients often send it: `=` and `/` not percent-encoded (the bar must be).
            let raw = try await site.send(
                "/api/v1/stats/aggregate?site_id=\(site.site)&period=custom&date=\(Self.dates(days))&metrics=pageviews&filters=event:page==/p1%7C/p2",
                method: .get, body: nil, key: site.key)
            let truth = site.stream.truth(in: Self.span(days)) { ["/p1", "/p2"].contains($0.path ?? "") }
            #expect(Self.number(((raw.object["results"] as? [String: Any])?["pageviews"] as? [String: Any])?["value"]) == Double(truth.pageviews), "\(raw)")
        }
    }

    @Test func v1RealtimeVisitorsAnswersTheVisitorsOfTheLastFiveMinutes() async throws {
        try await Self.withSite { site in
            let answer = try await site.v1("realtime/visitors", [])
            #expect(answer.status == .ok && answer.body == "0", "\(answer)")
            let now = Timestamp.nowMillis()
            let recent: [(Int64, Int64)] = [(1, now - 60_000), (2, now - 120_000), (1, now - 30_000), (3, now - 600_000)]
            let events = recent.enumerated().map { index, visit in
                StoredEvent(Event(
                    eventID: "live\(index)", siteID: site.site, eventType: "page_view", path: "/", timestamp: visit.1, receivedAt: visit.1,
                    visit: VisitFields(
                        visitorID: visit.0, sessionID: visit.0, hostname: nil, referrer: nil, source: "Direct / None", utmMedium: nil, utmSource: nil,
                        utmCampaign: nil, utmContent: nil, utmTerm: nil, browser: "", browserVersion: "", os: "", osVersion: "", device: "Desktop",
                        country: nil)))
            }
            _ = try await site.servers.store.insert(events)
            let live = try await site.v1("realtime/visitors", [])
            #expect(live.status == .ok, "\(live)")
            #expect(Self.number(live.json) == 2, "visitors 1 and 2, not 3 (ten minutes ago): \(live)")
        }
    }
}
