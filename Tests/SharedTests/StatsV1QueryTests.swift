import Foundation
import Testing

@testable import Shared

/// Stats API v1: parameters as Plausible reads them, refusals that name the parameter, and
/// answers in the documented shapes.
struct StatsV1QueryTests {
    static let now = Timestamp.parseISO8601("2024-08-21T12:00:00Z") ?? 0

    static func query(_ endpoint: StatsV1Query.Endpoint, _ parameters: [String: String]) throws(StatsAPIError) -> StatsV1Query {
        try StatsV1Query(endpoint, parameters: ["site_id": "example.com"].merging(parameters) { $1 })
    }

    /// The error message of a refused request, or nil when it was accepted.
    static func refusal(_ endpoint: StatsV1Query.Endpoint, _ parameters: [String: String]) -> String? {
        do {
            _ = try query(endpoint, parameters).plan(calendar: .utc, now: now)
            return nil
        } catch {
            #expect(error.status == 400 || error.status == 413)
            #expect(error.json.serialized.hasPrefix(#"{"error":""#))
            return error.message
        }
    }

    // MARK: Parameters

    @Test func defaultsAreThirtyDaysOfVisitors() throws {
        let query = try Self.query(.aggregate, [:])
        #expect(query.period == .thirtyDays)
        #expect(query.metrics == [.visitors])
        #expect(query.filter == nil)
        #expect(!query.compare)
    }

    @Test func filtersReadAndOrWildcardsAndEscapes() throws {
        let filter = try StatsV1Query.parseFilters(#"event:page==/blog/**;visit:source!=Google|Bing; visit:utm_campaign == campaign\|one ;"#)
        #expect(filter == .and([
            .condition(.page, .wildcard, ["/blog/**"]),
            .condition(.source, .isNot, ["Google", "Bing"]),
            .condition(.utmCampaign, .is, ["campaign|one"]),
        ]))
        #expect(try StatsV1Query.parseFilters("event:props:method==HTTP") == .condition(.prop("method"), .is, ["HTTP"]))
        #expect(try StatsV1Query.parseFilters("event:page!=/a*") == .condition(.page, .wildcardNot, ["/a*"]))
        #expect(try StatsV1Query.parseFilters("visit:country==DE|FR") == .condition(.country, .is, ["DE", "FR"]))
        #expect(try StatsV1Query.parseFilters("") == nil)
    }

    @Test(arguments: [
        ("event:page", "event:page"), ("==/x", "==/x"), ("event:page==", "event:page=="), ("a==b==c", "a==b==c"),
        ("event:page==/a!=b", "event:page==/a!=b"),
    ])
    func malformedConditionsAreNamed(filter: String, named: String) {
        let message = Self.refusal(.aggregate, ["filters": filter]) ?? ""
        #expect(message.contains("`filters`"))
        #expect(message.contains(named))
    }

    @Test func unknownAndUnsupportedPropertiesAreRefused() {
        #expect(Self.refusal(.aggregate, ["filters": "visit:planet==Mars"])?.contains("Invalid filter property \"visit:planet\"") == true)
        #expect(Self.refusal(.aggregate, ["filters": "event:goal==Signup"])?.contains("does not record it") == true)
        #expect(Self.refusal(.breakdown, ["property": "visit:city"])?.contains("does not record it") == true)
        #expect(Self.refusal(.breakdown, ["property": "visit:planet"])?.hasPrefix("Invalid property \"visit:planet\"") == true)
        #expect(Self.refusal(.breakdown, ["property": "event:hostname"])?.contains("not supported for breakdowns") == true)
        #expect(Self.refusal(.breakdown, [:])?.contains("`property` parameter is required") == true)
        #expect(Self.refusal(.aggregate, ["filters": "visit:country==Germany"])?.contains("2-letter country code") == true)
    }

    @Test func hostileFiltersAreBoundedNotTrapped() {
        let many = Array(repeating: "visit:source==A", count: 10_000).joined(separator: ";")
        #expect(Self.refusal(.aggregate, ["filters": many])?.contains("`filters`") == true)
        let sixtyFive = Array(repeating: "visit:source==A", count: Filter.maxConditions + 1).joined(separator: ";")
        #expect(Self.refusal(.aggregate, ["filters": sixtyFive])?.contains("at most \(Filter.maxConditions) conditions") == true)
        let longValue = "event:page==" + String(repeating: "x", count: StatsQueryRules.maxValueBytes + 1)
        #expect(Self.refusal(.aggregate, ["filters": longValue])?.contains("longer than") == true)
        let manyValues = "event:page==" + Array(repeating: "a", count: StatsQueryRules.maxValuesPerCondition + 1).joined(separator: "|")
        #expect(Self.refusal(.aggregate, ["filters": manyValues]) != nil)
        #expect(Self.refusal(.aggregate, ["filters": "event:page==\u{0}\u{1}|\\"]) == nil)
        #expect(Self.refusal(.aggregate, ["filters": "\u{FFFD}==\u{FFFD}"])?.contains("Invalid filter property") == true)
        #expect(Self.refusal(.aggregate, ["metrics": String(repeating: "visitors,", count: 1000)]) != nil)
    }

    @Test func metricsFollowPlausiblesRules() {
        #expect(Self.refusal(.aggregate, ["metrics": "visitors,visitors"]) == "Metrics cannot be queried multiple times.")
        #expect(Self.refusal(.aggregate, ["metrics": "visitors,sessions"])?.hasPrefix("The metric `sessions` is not recognized.") == true)
        #expect(Self.refusal(.aggregate, ["metrics": "conversion_rate"])?.contains("not supported by this server") == true)
        #expect(Self.refusal(.aggregate, ["metrics": ""]) != nil)
        #expect(Self.refusal(.breakdown, ["property": "event:page", "metrics": "views_per_visit"]) == "Metric `views_per_visit` is not supported in breakdown queries.")
        #expect(Self.refusal(.aggregate, ["metrics": "views_per_visit", "filters": "event:page==/"]) == "Metric `views_per_visit` cannot be queried with a filter on `event:page`.")
        #expect(Self.refusal(.aggregate, ["metrics": "bounce_rate", "filters": "event:name==Signup"]) == "Session metric `bounce_rate` cannot be queried when using a filter on `event:name`.")
        #expect(Self.refusal(.breakdown, ["metrics": "visits", "property": "event:props:plan"]) == "Session metric `visits` cannot be queried for breakdown by `event:props:plan`.")
        #expect(Self.refusal(.breakdown, ["metrics": "visitors,bounce_rate,visit_duration", "property": "event:page"]) == nil)
        #expect(Self.refusal(.aggregate, ["metrics": "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration,events"]) == nil)
        #expect(Self.refusal(.timeseries, ["metrics": "views_per_visit"]) == nil)
    }

    @Test func periodsAndDatesAreChecked() throws {
        #expect(Self.refusal(.aggregate, ["period": "week"])?.hasPrefix("Error parsing `period` parameter: invalid period `week`.") == true)
        #expect(Self.refusal(.aggregate, ["period": "custom"])?.hasPrefix("The `date` parameter is required") == true)
        #expect(Self.refusal(.aggregate, ["period": "custom", "date": "2024-01-01"])?.hasPrefix("Invalid format for `date` parameter.") == true)
        #expect(Self.refusal(.aggregate, ["period": "custom", "date": "2024-02-01,2024-01-01"])?.contains("after the last") == true)
        #expect(Self.refusal(.aggregate, ["period": "custom", "date": "0001-01-01,9999-12-31"])?.contains("at most") == true)
        #expect(Self.refusal(.aggregate, ["date": "2024-02-30"])?.hasPrefix("Error parsing `date` parameter") == true)
        #expect(Self.refusal(.aggregate, ["date": "99999999999999999999"]) != nil)
        let custom = try Self.query(.aggregate, ["period": "custom", "date": "2024-01-01, 2024-01-31"])
        #expect(custom.period == .custom(LocalDate(year: 2024, month: 1, day: 1)!, LocalDate(year: 2024, month: 1, day: 31)!))
    }

    @Test func limitPageAndIntervalAreBounded() throws {
        for bad in ["0", "1001", "ten", "99999999999999999999", "-1", "1.5"] {
            #expect(Self.refusal(.breakdown, ["property": "event:page", "limit": bad]) == "Please provide limit as a number between 1 and 1000.")
        }
        #expect(Self.refusal(.breakdown, ["property": "event:page", "page": "0"]) == "Please provide page as a positive number.")
        let far = try Self.query(.breakdown, ["property": "event:page", "limit": "1000", "page": String(Int.max)])
        #expect(far.offset == Int.max)
        #expect(try Self.query(.breakdown, ["property": "event:page", "limit": "10", "page": "3"]).offset == 20)
        #expect(Self.refusal(.timeseries, ["interval": "week"])?.hasPrefix("Error parsing `interval` parameter") == true)
        #expect(try Self.query(.timeseries, ["interval": "date"]).interval == .day)
        #expect(Self.refusal(.aggregate, ["compare": "year_over_year"])?.contains("`compare`") == true)
    }

    // MARK: Plans

    @Test func timeseriesIntervalDefaultsByPeriod() throws {
        let day = try Self.query(.timeseries, ["period": "day", "date": "2024-08-20"]).plan(calendar: .utc, now: Self.now)
        #expect(day.interval == .hour)
        #expect(day.buckets.count == 24)
        #expect(day.buckets.first?.label == "2024-08-20 00:00:00")
        let sixMonths = try Self.query(.timeseries, ["period": "6mo", "date": "2021-01-15"]).plan(calendar: .utc, now: Self.now)
        #expect(sixMonths.interval == .month)
        #expect(sixMonths.buckets.map(\.label) == ["2020-08-01", "2020-09-01", "2020-10-01", "2020-11-01", "2020-12-01", "2021-01-01"])
        let thirty = try Self.query(.timeseries, [:]).plan(calendar: .utc, now: Self.now)
        #expect(thirty.interval == .day)
        #expect(thirty.buckets.last?.label == "2024-08-21")
    }

    @Test func breakdownOfAVersionGroupsByItsBrowserToo() throws {
        let plan = try Self.query(.breakdown, ["property": "visit:browser_version"]).plan(calendar: .utc, now: Self.now)
        #expect(plan.request.dimensions == [.property(.browser), .property(.browserVersion)])
        #expect(StatsV1Query.resultKey(.page) == "page")
        #expect(StatsV1Query.resultKey(.utmSource) == "utm_source")
        #expect(StatsV1Query.resultKey(.prop("method")) == "method")
    }

    @Test func previousPeriodHasTheSameNumberOfDaysUpToToday() {
        let day = { (text: String) in LocalDate(parsing: text)! }
        let span = { (a: String, b: String) in LocalDateSpan(first: day(a), last: day(b))! }
        #expect(StatsV1Query.previousPeriod(of: span("2024-08-20", "2024-08-20"), today: day("2024-08-21")) == span("2024-08-19", "2024-08-19"))
        #expect(StatsV1Query.previousPeriod(of: span("2024-08-15", "2024-08-21"), today: day("2024-08-21")) == span("2024-08-08", "2024-08-14"))
        // A month in progress on the 15th compares with the 15 days before it.
        #expect(StatsV1Query.previousPeriod(of: span("2024-08-01", "2024-08-31"), today: day("2024-08-15")) == span("2024-07-17", "2024-07-31"))
        let plan = try? Self.query(.aggregate, ["period": "7d", "compare": "previous_period"]).plan(calendar: .utc, now: Self.now)
        #expect(plan?.previous?.range.end == plan?.request.range.start)
        #expect(plan?.previous?.range.duration == plan?.request.range.duration)
    }

    @Test func changeIsComputedAsPlausibleDoes() {
        #expect(StatsComparison.change(.visitors, previous: 100, current: 150) == 50)
        #expect(StatsComparison.change(.visitors, previous: 200, current: 100) == -50)
        #expect(StatsComparison.change(.pageviews, previous: 3, current: 4) == 33)
        #expect(StatsComparison.change(.pageviews, previous: 8, current: 9) == 13)  // 12.5 rounds away from zero
        #expect(StatsComparison.change(.visitors, previous: 0, current: 5) == 100)
        #expect(StatsComparison.change(.visitors, previous: 0, current: 0) == 0)
        #expect(StatsComparison.change(.bounceRate, previous: 40, current: 45) == 5)
        #expect(StatsComparison.change(.bounceRate, previous: 0, current: 45) == nil)
        #expect(StatsComparison.change(.viewsPerVisit, previous: 2, current: 3) == 50)
    }
}
