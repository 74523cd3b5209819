import Foundation
import Testing

@testable import Shared

/// v2 answers against the examples of Plausible's documentation.
extension StatsV2QueryTests {
    static func renderPlan(_ text: String, calendar: SiteCalendar = .utc) throws -> StatsV2Plan {
        try Self.query(text).plan(calendar: calendar, now: Self.now)
    }

    static func engineResult(_ rows: [StatsRow]) -> StatsResult {
        StatsResult(rows: rows, plan: QueryPlanStats())
    }

    @Test func aggregateExample() throws {
        let plan = try Self.renderPlan(#"{"site_id": "dummy.site", "metrics": ["visitors", "events"], "date_range": ["2024-08-11", "2024-08-17"]}"#)
        #expect(plan.request.dimensions.isEmpty)
        let answer = plan.render(Self.engineResult([([], statsCell(visitors: 1069, events: 2648))]))
        #expect(sameJSON(answer, """
            {"results": [{"metrics": [1069, 2648], "dimensions": []}], "meta": {},
             "query": {"site_id": "dummy.site", "metrics": ["visitors", "events"],
                       "date_range": ["2024-08-11T00:00:00+00:00", "2024-08-17T23:59:59+00:00"], "filters": [], "dimensions": [],
                       "order_by": [["visitors", "desc"]], "include": {}, "pagination": {"limit": 10000, "offset": 0}}}
            """))
        #expect(answer.serialized.hasPrefix(#"{"results":[{"metrics":[1069,2648],"dimensions":[]}],"meta":{},"query":{"site_id":"dummy.site","#))
        #expect(plan.render(Self.engineResult([])).serialized.hasPrefix(#"{"results":[{"metrics":[0,0],"dimensions":[]}]"#))
    }

    @Test func paginationExample() throws {
        let plan = try Self.renderPlan(#"""
            {"site_id": "dummy.site", "metrics": ["visitors", "events", "pageviews"],
             "date_range": ["2024-09-10T00:00:00+00:00", "2024-09-16T23:59:59+00:00"],
             "dimensions": ["visit:utm_medium", "visit:utm_source"], "include": {"total_rows": true},
             "pagination": {"offset": 1, "limit": 3}}
            """#)
        let rows: [StatsRow] = [
            ([.text(""), .text("duckduckgo")], statsCell(visitors: 325, pageviews: 317, events: 397)),
            ([.text("social"), .text("twitter")], statsCell(visitors: 296, pageviews: 292, events: 357)),
            ([.text("cpc"), .text("google")], statsCell(visitors: 12, pageviews: 12, events: 12)),
            ([.text("email"), .text("newsletter")], statsCell(visitors: 400, pageviews: 500, events: 600)),
            ([.text(""), .text("google")], statsCell(visitors: 311, pageviews: 295, events: 369)),
            ([.text("social"), .text("mastodon")], statsCell(visitors: 5, pageviews: 5, events: 5)),
        ]
        #expect(sameJSON(plan.render(Self.engineResult(rows)), """
            {"results": [
                {"metrics": [325, 397, 317], "dimensions": ["(not set)", "duckduckgo"]},
                {"metrics": [311, 369, 295], "dimensions": ["(not set)", "google"]},
                {"metrics": [296, 357, 292], "dimensions": ["social", "twitter"]}],
             "meta": {"total_rows": 6},
             "query": {"site_id": "dummy.site", "metrics": ["visitors", "events", "pageviews"],
                       "date_range": ["2024-09-10T00:00:00+00:00", "2024-09-16T23:59:59+00:00"], "filters": [],
                       "dimensions": ["visit:utm_medium", "visit:utm_source"], "order_by": [["visitors", "desc"]],
                       "include": {"total_rows": true}, "pagination": {"offset": 1, "limit": 3}}}
            """))
    }

    @Test func timeLabelsExample() throws {
        let plan = try Self.renderPlan(#"""
            {"site_id": "dummy.site", "metrics": ["visitors"], "date_range": ["2024-08-20", "2024-08-20"],
             "dimensions": ["time:hour"], "include": {"time_labels": true}}
            """#)
        let key = { (hour: Int) in plan.calendar.bucketStart(of: plan.request.range.start + Int64(hour) * 3_600_000, interval: .hour) }
        let rows: [StatsRow] = [
            ([.time(key(23))], statsCell(visitors: 1)), ([.time(key(2))], statsCell(visitors: 4)), ([.time(key(1))], statsCell(visitors: 4)),
        ]
        let labels = (0..<24).map { #""2024-08-20 \#($0 < 10 ? "0" : "")\#($0):00:00""# }.joined(separator: ", ")
        #expect(sameJSON(plan.render(Self.engineResult(rows)), """
            {"results": [
                {"metrics": [4], "dimensions": ["2024-08-20 01:00:00"]},
                {"metrics": [4], "dimensions": ["2024-08-20 02:00:00"]},
                {"metrics": [1], "dimensions": ["2024-08-20 23:00:00"]}],
             "meta": {"time_labels": [\(labels)]},
             "query": {"site_id": "dummy.site", "metrics": ["visitors"], "date_range": ["2024-08-20T00:00:00+00:00", "2024-08-20T23:59:59+00:00"],
                       "filters": [], "dimensions": ["time:hour"], "order_by": [["time:hour", "asc"], ["visitors", "desc"]],
                       "include": {"time_labels": true}, "pagination": {"limit": 10000, "offset": 0}}}
            """))
    }

    @Test func timeFollowsTheDateRange() throws {
        let week = try Self.renderPlan(#"{"site_id": "a", "metrics": ["pageviews"], "date_range": ["2024-09-01", "2024-09-07"], "dimensions": ["time"]}"#)
        #expect(week.interval == .day)
        #expect(week.request.dimensions == [.time(.day)])
        #expect(week.queryJSON.serialized.contains(#""dimensions":["time:day"],"order_by":[["time:day","asc"],["pageviews","desc"]]"#))
        let day = try Self.renderPlan(#"{"site_id": "a", "metrics": ["pageviews"], "date_range": "day", "dimensions": ["time"]}"#)
        #expect(day.interval == .hour)
        let year = try Self.renderPlan(#"{"site_id": "a", "metrics": ["pageviews"], "date_range": ["2023-01-01", "2024-12-31"], "dimensions": ["time"]}"#)
        #expect(year.interval == .month)
    }

    @Test func dateRangeIsEchoedInTheSitesZone() throws {
        let paris = try #require(SiteCalendar(timeZone: "Europe/Paris"))
        let plan = try Self.renderPlan(#"{"site_id": "a", "metrics": ["visitors"], "date_range": ["2024-09-10", "2024-09-16"]}"#, calendar: paris)
        #expect(plan.dateRange.first == "2024-09-10T00:00:00+02:00")
        #expect(plan.dateRange.last == "2024-09-16T23:59:59+02:00")
        let winter = try Self.renderPlan(#"{"site_id": "a", "metrics": ["visitors"], "date_range": ["2024-10-27", "2024-10-27"]}"#, calendar: paris)
        #expect(winter.dateRange == ("2024-10-27T00:00:00+02:00", "2024-10-27T23:59:59+01:00"))
        #expect(winter.request.range.duration == 25 * 3_600_000)
    }

    @Test func orderByIsFollowedThenEveryDimensionBreaksTies() throws {
        let plan = try Self.renderPlan(#"""
            {"site_id": "a", "metrics": ["visitors", "pageviews"], "date_range": "7d", "dimensions": ["event:page"],
             "order_by": [["pageviews", "asc"]], "pagination": {"limit": 2}}
            """#)
        let rows: [StatsRow] = [
            ([.text("/c")], statsCell(visitors: 1, pageviews: 5)), ([.text("/b")], statsCell(visitors: 9, pageviews: 5)),
            ([.text("/a")], statsCell(visitors: 2, pageviews: 7)),
        ]
        let answer = plan.render(Self.engineResult(rows)).serialized
        #expect(answer.hasPrefix(#"{"results":[{"metrics":[9,5],"dimensions":["/b"]},{"metrics":[1,5],"dimensions":["/c"]}],"meta":{}"#))
        #expect(answer.contains(#""order_by":[["pageviews","asc"]]"#))
    }

    @Test func filtersAreEchoedAsSent() throws {
        let plan = try Self.renderPlan(#"""
            {"site_id": "a", "metrics": ["visitors"], "date_range": "7d",
             "filters": [["is", "visit:country", ["DE"]], ["not", ["contains", "event:page", ["docs"]]]]}
            """#)
        #expect(plan.queryJSON.serialized.contains(#""filters":[["is","visit:country",["DE"]],["not",["contains","event:page",["docs"]]]]"#))
        #expect(plan.request.filter == .and([.condition(.country, .is, ["DE"]), .not(.condition(.page, .contains, ["docs"]))]))
    }

    @Test func unsetVisitAttributesAreNamedAndEventValuesKept() {
        #expect(StatsJSON.text("", of: .browser) == "(not set)")
        #expect(StatsJSON.text("", of: .utmSource) == "(not set)")
        #expect(StatsJSON.text("", of: .page) == "")
        #expect(StatsJSON.text("(none)", of: .prop("plan")) == "(none)")
        #expect(StatsJSON.text("Chrome", of: .browser) == "Chrome")
    }
}
