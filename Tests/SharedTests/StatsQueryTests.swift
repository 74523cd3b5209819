import Foundation
import Testing

@testable import Shared

/// `GET /stats` parameters and the answer's shape.
struct StatsQueryTests {
    /// `scripts/bench` times this pipeline straight through libmongoc as the baseline for `GET /stats`,
    /// so it must stay the pipeline the API runs.
    @Test func benchmarkBaselineRunsTheSamePipeline() throws {
        let query = try StatsQuery(siteID: "stats", date: "2026-10-16", limit: nil)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let template = try String(contentsOf: root.appendingPathComponent("Benchmarks/stats_pipeline.json"), encoding: .utf8)
        let baseline = template.replacingOccurrences(of: "__SITE__", with: "stats")
            .replacingOccurrences(of: "__START__", with: String(query.dayStart))
            .replacingOccurrences(of: "__END__", with: String(query.dayStart + 86_400_000))
        let parse = { (text: String) in try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSArray }
        #expect(try parse(baseline) == parse(query.pipelineJSON))
    }

    @Test func validQuery() throws {
        let query = try StatsQuery(siteID: "site-001", date: "2025-11-23", limit: nil)
        #expect(query.limit == 10)
        #expect(query.dayStart == 1_763_856_000_000)
    }

    @Test(arguments: [
        (String?.none, String?("2025-11-23"), String?.none, "site_id"),
        ("s", nil, nil, "date"),
        ("s", "2025-11-32", nil, "date"),
        ("s", "23/11/2025", nil, "date"),
        ("s", "2025-11-23", "0", "limit"),
        ("s", "2025-11-23", "101", "limit"),
        ("s", "2025-11-23", "ten", "limit"),
        ("$gt", "2025-11-23", nil, "site_id"),
    ])
    func badParameterNamesIt(site: String?, date: String?, limit: String?, field: String) {
        do {
            _ = try StatsQuery(siteID: site, date: date, limit: limit)
            Issue.record("accepted \(String(describing: site)) \(String(describing: date)) \(String(describing: limit))")
        } catch {
            #expect(error.field == field)
        }
    }

    @Test func answerKeepsSeedKeyOrder() {
        let report = StatsReport(siteID: "s", date: "2025-11-23", totalViews: 2, uniqueUsers: 1, topPaths: [PathStats(path: "/a\"", views: 2, uniqueUsers: 1)])
        #expect(report.json.serialized == #"{"site_id":"s","date":"2025-11-23","total_views":2,"unique_users":1,"top_paths":[{"path":"/a\"","views":2,"unique_users":1}]}"#)
    }

    @Test func jsonEscapesControlCharacters() {
        #expect(JSONValue.string("a\u{01}\n\\").serialized == #""a\u0001\n\\""#)
        #expect(JSONValue.string("é\t\"x\u{1F}").serialized == #""é\t\"x\u001f""#)
    }
}
