import Foundation
import Testing

@testable import Shared

/// Stats API v2: query bodies as Plausible reads them, and refusals whose message starts with
/// the JSON path at fault.
struct StatsV2QueryTests {
    static let now = Timestamp.parseISO8601("2024-09-20T12:00:00Z") ?? 0

    static func query(_ text: String) throws(StatsAPIError) -> StatsV2Query {
        try StatsV2Query(StatsQueryJSON.parse(Array(text.utf8)))
    }

    /// The message of a refused body, or nil when it was accepted and planned.
    static func refusal(_ text: String) -> String? {
        do {
            _ = try query(text).plan(calendar: .utc, now: now)
            return nil
        } catch {
            #expect(error.status == 400 || error.status == 413)
            return error.message
        }
    }

    /// A body with `members` added to a valid minimal query (`metrics` replacing the default one).
    static func body(_ members: String) -> String {
        let metrics = members.contains(#""metrics""#) ? "" : #", "metrics": ["visitors"]"#
        return #"{"site_id": "dummy.site", "date_range": "7d""# + metrics + (members.isEmpty ? "" : ", " + members) + "}"
    }

    @Test func readsEveryPart() throws {
        let query = try Self.query(Self.body(#"""
            "dimensions": ["visit:utm_medium", "time:day", "event:props:plan"],
            "filters": [["is", "visit:country", ["DE", "PL"]], ["or", [["contains", "event:page", ["/login"]], ["not", ["is_not", "visit:source", ["Google"]]]]]],
            "order_by": [["visitors", "asc"], ["time:day", "desc"]],
            "pagination": {"limit": 3, "offset": 1}, "include": {"total_rows": true, "time_labels": true}
            """#))
        #expect(query.siteID == "dummy.site")
        #expect(query.dimensions == [.property(.utmMedium), .time(.day), .property(.prop("plan"))])
        #expect(query.filter == .and([
            .condition(.country, .is, ["DE", "PL"]),
            .or([.condition(.page, .contains, ["/login"]), .not(.condition(.source, .isNot, ["Google"]))]),
        ]))
        #expect(query.order?.map(\.field) == [.metric(.visitors), .dimension(1)])
        #expect((query.limit, query.offset, query.totalRows, query.timeLabels) == (3, 1, true, true))
    }

    @Test func regularExpressionsAreRefusedClearly() {
        let message = Self.refusal(Self.body(#""filters": [["matches", "event:page", ["^/user/\\d+$"]]]"#))
        #expect(message?.hasPrefix("#/filters/0: regular expression filters (`matches`) are not supported") == true)
        #expect(Self.refusal(Self.body(#""filters": [["not", ["matches_not", "event:page", ["a"]]]]"#))?.hasPrefix("#/filters/0/1: regular expression") == true)
        #expect(Self.refusal(Self.body(#""filters": [["has_done", ["is", "event:name", ["Signup"]]]]"#))?.contains("behavioral") == true)
    }

    @Test(arguments: [
        (#""filters": [["equals", "event:page", ["/"]]]"#, "#/filters/0: Unknown operator"),
        (#""filters": [["is", "event:page", "/"]]"#, "#/filters/0: Invalid filter"),
        (#""filters": [["is", "event:page", [1]]]"#, "#/filters/0: Invalid filter"),
        (#""filters": [["is", "visit:planet", ["Mars"]]]"#, "#/filters/0: Invalid filter"),
        (#""filters": [["is", "visit:city", ["Paris"]]]"#, "#/filters/0/1: Dimension \"visit:city\" is not supported"),
        (#""filters": [["is", "visit:country", ["Germany"]]]"#, "#/filters/0: Invalid visit:country filter"),
        (#""filters": [["and", []]]"#, "#/filters/0: Invalid filter"),
        (#""filters": [["is", "event:page", ["/"], {"case_sensitive": false}]]"#, "#/filters/0/3: case-insensitive"),
        (#""filters": "event:page==/""#, "#/filters: Invalid filters passed."),
        (#""metrics": ["visitors", "percentage"]"#, "#/metrics/1: Metric \"percentage\" is not supported"),
        (#""metrics": ["visits", "sessions"]"#, "#/metrics/1: Invalid metric \"sessions\""),
        (#""metrics": []"#, "#/metrics: Expected a minimum of 1 items"),
        (#""metrics": ["visitors", "visitors"]"#, "#/metrics: Expected items to be unique"),
        (#""dimensions": ["visit:planet"]"#, "#/dimensions/0: Invalid dimension \"visit:planet\""),
        (#""dimensions": ["visit:region"]"#, "#/dimensions/0: Dimension \"visit:region\" is not supported"),
        (#""dimensions": ["time:minute"]"#, "#/dimensions/0: Invalid dimension"),
        (#""dimensions": ["time:day", "time:hour"]"#, "#/dimensions/1: at most one time dimension"),
        (#""dimensions": ["event:page", "event:page"]"#, "#/dimensions: Expected items to be unique"),
        (#""order_by": [["pageviews", "desc"]]"#, "#/order_by/0: Invalid order_by entry"),
        (#""order_by": [["visitors", "down"]]"#, "#/order_by/0: Invalid value in order_by"),
        (#""pagination": {"limit": 0}"#, "#/pagination/limit"),
        (#""pagination": {"limit": 10001}"#, "#/pagination/limit"),
        (#""pagination": {"limit": 1.5}"#, "#/pagination/limit"),
        (#""pagination": {"limit": 1e300}"#, "#/pagination/limit"),
        (#""pagination": {"limit": 99999999999999999999999}"#, "#/pagination/limit"),
        (#""pagination": {"offset": -1}"#, "#/pagination/offset"),
        (#""pagination": {"page": 2}"#, "#/pagination: Schema does not allow additional properties"),
        (#""include": {"time_labels": true}"#, "Invalid include.time_labels: requires a time dimension."),
        (#""include": {"comparisons": {"mode": "previous_period"}}"#, "#/include/comparisons"),
        (#""include": {"colors": true}"#, "#/include: Invalid include"),
        (#""date": "2024-01-01""#, "#: Schema does not allow additional properties"),
    ])
    func badPartsAreNamedByTheirPath(members: String, prefix: String) {
        let message = Self.refusal(Self.body(members)) ?? "(accepted)"
        #expect(message.hasPrefix(prefix), "\(message)")
    }

    @Test func metricsFollowPlausiblesRules() {
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["views_per_visit"], "dimensions": ["time"]}"#)
            == "Metric `views_per_visit` cannot be queried with `dimensions`.")
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["views_per_visit"], "filters": [["not", ["is", "event:page", ["/"]]]]}"#)
            == "Metric `views_per_visit` cannot be queried with a filter on `event:page`.")
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["bounce_rate"], "dimensions": ["event:name"]}"#)
            == "Session metric(s) `bounce_rate` cannot be queried along with event dimensions.")
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["bounce_rate", "visit_duration", "visits"], "dimensions": ["event:page"]}"#) == nil)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["visits"], "dimensions": ["event:props:plan"]}"#) == nil)
    }

    @Test func missingAndMistypedFieldsAreRefused() {
        #expect(Self.refusal(#"{"date_range": "7d", "metrics": ["visitors"]}"#) == "#: Required property site_id was not present.")
        #expect(Self.refusal(#"{"site_id": "a", "metrics": ["visitors"]}"#) == "#: Required property date_range was not present.")
        #expect(Self.refusal(#"{"site_id": 5, "date_range": "7d", "metrics": ["visitors"]}"#)?.hasPrefix("#/site_id") == true)
        #expect(Self.refusal(#"["site_id"]"#) == "#: the query must be a JSON object.")
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "fortnight", "metrics": ["visitors"]}"#)?.hasPrefix("#/date_range: Invalid date_range") == true)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": ["2024-02-01", "2024-01-01"], "metrics": ["visitors"]}"#)?.hasPrefix("#/date_range") == true)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": ["2024-01-01"], "metrics": ["visitors"]}"#)?.hasPrefix("#/date_range") == true)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": ["0001-01-01", "9999-12-31"], "metrics": ["visitors"]}"#)?.contains("at most") == true)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "5000d", "metrics": ["visitors"], "dimensions": ["time:hour"]}"#)?.contains("time buckets") == true)
    }

    @Test func hostileBodiesAreRefusedNotTrapped() {
        let deep = String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["visitors"], "filters": "# + deep + "}") != nil)
        let deepFilter = (0..<10).reduce(#"["is", "event:page", ["/"]]"#) { inner, _ in #"["not", \#(inner)]"# }
        #expect(Self.refusal(Self.body(#""filters": [\#(deepFilter)]"#))?.contains("nested at most") == true)
        let many = Array(repeating: #"["is", "event:page", ["/"]]"#, count: 2000).joined(separator: ",")
        #expect(Self.refusal(Self.body(#""filters": [\#(many)]"#))?.contains("at most \(Filter.maxConditions) conditions") == true)
        let wide = Array(repeating: #"["is", "event:page", ["/"]]"#, count: Filter.maxConditions + 1).joined(separator: ",")
        #expect(Self.refusal(Self.body(#""filters": [["or", [\#(wide)]]]"#))?.contains("at most \(Filter.maxConditions) conditions") == true)
        let huge = Self.body(#""filters": [["is", "event:page", ["\#(String(repeating: "x", count: 70_000))"]]]"#)
        do {
            _ = try Self.query(huge)
            Issue.record("a body over the limit was read")
        } catch {
            #expect(error.status == 413)
        }
        _ = Self.refusal(#"{"site_id": "a\ud800", "date_range": "7d", "metrics": ["visitors"]}"#)
        #expect(Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["\u0000visitors"]}"#)?.hasPrefix("#/metrics/0") == true)
        var invalidUTF8 = Array(Self.body("").utf8)
        invalidUTF8.insert(0xFF, at: 15)
        #expect((try? StatsV2Query(StatsQueryJSON.parse(invalidUTF8)))?.siteID != "dummy.site")
        #expect(Self.refusal("") != nil)
        #expect(Self.refusal("nul") != nil)
        _ = Self.refusal(#"{"site_id": "a", "date_range": "7d", "metrics": ["visitors"], "metrics": ["pageviews"]}"#)
    }

    @Test func siteIDIsReadBeforeTheRest() throws {
        let body = try StatsQueryJSON.parse(Array(#"{"site_id": "dummy.site", "metrics": "nonsense"}"#.utf8))
        #expect(StatsV2Query.siteID(of: body) == "dummy.site")
        #expect(StatsV2Query.siteID(of: .array([])) == nil)
    }
}
