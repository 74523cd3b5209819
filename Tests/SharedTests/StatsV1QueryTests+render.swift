import Foundation
import Testing

@testable import Shared

/// A cell with `visitors` distinct visitors and the given counts.
func statsCell(visitors: Int, visits: Int = 0, pageviews: Int = 0, events: Int = 0, bounces: Int = 0, seconds: Int64 = 0) -> Cell {
    var cell = Cell()
    for id in 0..<visitors { cell.visitors.insert(Int64(id) * 7919 + 1) }
    cell.visits = visits
    cell.pageviews = pageviews
    cell.events = events
    cell.bounces = bounces
    cell.durationMillis = seconds * 1000
    return cell
}

/// True when `ours` and the JSON text `expected` hold the same values, key order aside.
func sameJSON(_ ours: JSONValue, _ expected: String) -> Bool {
    guard let left = try? JSONSerialization.jsonObject(with: Data(ours.bytes)) as? NSObject,
          let right = try? JSONSerialization.jsonObject(with: Data(expected.utf8)) as? NSObject
    else { return false }
    return left == right
}

/// v1 answers against the shapes of Plausible's documentation.
extension StatsV1QueryTests {
    static func renderPlan(_ endpoint: StatsV1Query.Endpoint, _ parameters: [String: String]) throws -> StatsV1Plan {
        try Self.query(endpoint, parameters).plan(calendar: .utc, now: Self.now)
    }

    static func engineResult(_ rows: [StatsRow]) -> StatsResult {
        StatsResult(rows: rows, plan: QueryPlanStats())
    }

    @Test func aggregateHasOneValuePerMetricInTheOrderAsked() throws {
        let plan = try Self.renderPlan(.aggregate, ["period": "6mo", "metrics": "visitors,pageviews,bounce_rate,visit_duration"])
        let answer = plan.render(Self.engineResult([([], statsCell(visitors: 3, visits: 4, pageviews: 10, bounces: 2, seconds: 344))]))
        #expect(sameJSON(answer, #"{"results": {"bounce_rate": {"value": 50.0}, "pageviews": {"value": 10}, "visit_duration": {"value": 86.0}, "visitors": {"value": 3}}}"#))
        #expect(answer.serialized == #"{"results":{"visitors":{"value":3},"pageviews":{"value":10},"bounce_rate":{"value":50},"visit_duration":{"value":86}}}"#)
    }

    @Test func aggregateOfNothingIsZero() throws {
        let plan = try Self.renderPlan(.aggregate, ["metrics": "visitors,views_per_visit,bounce_rate"])
        #expect(plan.render(Self.engineResult([])).serialized
            == #"{"results":{"visitors":{"value":0},"views_per_visit":{"value":0.0},"bounce_rate":{"value":0}}}"#)
    }

    @Test func comparisonAddsThePreviousValueAndTheChange() throws {
        let plan = try Self.renderPlan(.aggregate, ["metrics": "visitors,bounce_rate,views_per_visit", "compare": "previous_period"])
        #expect(plan.previous != nil)
        let now = Self.engineResult([([], statsCell(visitors: 150, visits: 100, pageviews: 250, bounces: 45))])
        let before = Self.engineResult([([], statsCell(visitors: 100, visits: 100, pageviews: 200, bounces: 40))])
        #expect(plan.render(now, previous: before).serialized == #"{"results":{"#
            + #""visitors":{"value":150,"comparison_value":100,"change":50},"#
            + #""bounce_rate":{"value":45,"comparison_value":40,"change":5},"#
            + #""views_per_visit":{"value":2.5,"comparison_value":2.0,"change":25}}}"#)
        let fromNothing = plan.render(now, previous: Self.engineResult([]))
        #expect(fromNothing.serialized.contains(#""bounce_rate":{"value":45,"comparison_value":0,"change":null}"#))
        #expect(fromNothing.serialized.contains(#""visitors":{"value":150,"comparison_value":0,"change":100}"#))
    }

    @Test func timeseriesFillsEveryBucket() throws {
        let plan = try Self.renderPlan(.timeseries, ["period": "6mo", "date": "2021-01-15"])
        let rows: [StatsRow] = [
            ([.time(plan.bucketKeys[0])], statsCell(visitors: 36085)),
            ([.time(plan.bucketKeys[2])], statsCell(visitors: 71615)),
        ]
        let answer = plan.render(Self.engineResult(rows))
        #expect(sameJSON(answer, """
            {"results": [{"date": "2020-08-01", "visitors": 36085}, {"date": "2020-09-01", "visitors": 0},
             {"date": "2020-10-01", "visitors": 71615}, {"date": "2020-11-01", "visitors": 0},
             {"date": "2020-12-01", "visitors": 0}, {"date": "2021-01-01", "visitors": 0}]}
            """))
        #expect(answer.serialized.hasPrefix(#"{"results":[{"date":"2020-08-01","visitors":36085}"#))
    }

    @Test func hourlySeriesInAZoneWithDaylightSavingLabelsLocalHours() throws {
        let paris = try #require(SiteCalendar(timeZone: "Europe/Paris"))
        let plan = try Self.query(.timeseries, ["period": "day", "date": "2024-03-31", "metrics": "pageviews"])
            .plan(calendar: paris, now: Self.now)
        #expect(plan.buckets.count == 23)
        let answer = plan.render(Self.engineResult([([.time(plan.bucketKeys[2])], statsCell(visitors: 1, pageviews: 4))]))
        #expect(answer.serialized.contains(#"{"date":"2024-03-31 03:00:00","pageviews":4}"#))
        #expect(!answer.serialized.contains("02:00:00"))
    }

    @Test func breakdownIsSortedByTheFirstMetricAndKeyedWithoutPrefix() throws {
        let plan = try Self.renderPlan(.breakdown, ["property": "visit:source", "metrics": "visitors,bounce_rate", "limit": "5"])
        let rows: [StatsRow] = [
            ([.text("Google")], statsCell(visitors: 16, visits: 10, bounces: 6)),
            ([.text("Direct / None")], statsCell(visitors: 94, visits: 100, bounces: 49)),
            ([.text("Hacker News")], statsCell(visitors: 22, visits: 4, bounces: 3)),
        ]
        #expect(plan.render(Self.engineResult(rows)).serialized == #"{"results":["#
            + #"{"source":"Direct / None","visitors":94,"bounce_rate":49},"#
            + #"{"source":"Hacker News","visitors":22,"bounce_rate":75},"#
            + #"{"source":"Google","visitors":16,"bounce_rate":60}]}"#)
    }

    @Test func breakdownPagesAreStableOnTies() throws {
        let rows: [StatsRow] = ["/d", "/b", "/a", "/c", "/e"].map { ([.text($0)], statsCell(visitors: $0 == "/e" ? 9 : 1)) }
        let first = try Self.renderPlan(.breakdown, ["property": "event:page", "limit": "2", "page": "1"]).render(Self.engineResult(rows))
        let second = try Self.renderPlan(.breakdown, ["property": "event:page", "limit": "2", "page": "2"]).render(Self.engineResult(rows.reversed()))
        let beyond = try Self.renderPlan(.breakdown, ["property": "event:page", "limit": "2", "page": "9"]).render(Self.engineResult(rows))
        #expect(first.serialized == #"{"results":[{"page":"/e","visitors":9},{"page":"/a","visitors":1}]}"#)
        #expect(second.serialized == #"{"results":[{"page":"/b","visitors":1},{"page":"/c","visitors":1}]}"#)
        #expect(beyond.serialized == #"{"results":[]}"#)
    }

    @Test func breakdownLeavesOutVisitsWithoutTheValueAndNamesUnsetOnes() throws {
        let utm = try Self.renderPlan(.breakdown, ["property": "visit:utm_source"])
        let rows: [StatsRow] = [([.text("")], statsCell(visitors: 50)), ([.text("twitter")], statsCell(visitors: 2))]
        #expect(utm.render(Self.engineResult(rows)).serialized == #"{"results":[{"utm_source":"twitter","visitors":2}]}"#)
        let browser = try Self.renderPlan(.breakdown, ["property": "visit:browser"])
        #expect(browser.render(Self.engineResult(rows)).serialized.contains(#"{"browser":"(not set)","visitors":50}"#))
        let versions = try Self.renderPlan(.breakdown, ["property": "visit:browser_version"])
        let versionRows: [StatsRow] = [([.text("Firefox"), .text("128.0")], statsCell(visitors: 3))]
        #expect(versions.render(Self.engineResult(versionRows)).serialized == #"{"results":[{"browser":"Firefox","browser_version":"128.0","visitors":3}]}"#)
        let props = try Self.renderPlan(.breakdown, ["property": "event:props:method"])
        #expect(props.render(Self.engineResult([([.text("HTTP")], statsCell(visitors: 1477))])).serialized == #"{"results":[{"method":"HTTP","visitors":1477}]}"#)
    }

    @Test func sortingComparesMetricsThenEveryDimension() {
        let rows: [StatsRow] = [
            ([.text("b"), .time(2)], statsCell(visitors: 1)), ([.text("a"), .time(2)], statsCell(visitors: 1)),
            ([.text("a"), .time(1)], statsCell(visitors: 1)), ([.text("z"), .time(0)], statsCell(visitors: 5)),
        ]
        let sorted = StatsRows.sorted(rows, by: [StatsOrder(.dimension(1), ascending: false), StatsOrder(.metric(.visitors), ascending: true)])
        #expect(sorted.map(\.key) == [[.text("a"), .time(2)], [.text("b"), .time(2)], [.text("a"), .time(1)], [.text("z"), .time(0)]])
        #expect(StatsRows.page(sorted, offset: 3, limit: 10).count == 1)
        #expect(StatsRows.page(sorted, offset: Int.max, limit: 10).isEmpty)
        #expect(StatsRows.page(sorted, offset: 1, limit: Int.max).count == 3)
    }
}
