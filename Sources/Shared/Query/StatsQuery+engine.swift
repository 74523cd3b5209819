/// Seed 004's `/stats` as a question for the query engine, kept apart from `StatsQuery`'s
/// parsing (which the fuzzers compile alone).
extension StatsQuery {
    /// The question for the query engine: page views of the day (UTC), by path, with
    /// distinct user ids as `unique_users`.
    public var request: StatsRequest {
        StatsRequest(
            siteID: siteID, calendar: .utc, range: TimeRange(start: dayStart, end: dayStart + 86_400_000),
            dimensions: [.property(.page)], filter: .condition(.name, .is, ["pageview"]), identity: .user)
    }

    /// Seed 004's answer from the engine's cells: totals summed over paths (a page view has
    /// one path), users counted across paths, top paths by views then path, both descending.
    public func report(from result: StatsResult) -> StatsReport {
        var total = Cell()
        for row in result.rows { total.merge(row.cell) }
        let paths = result.rows.compactMap { row -> PathStats? in
            guard case .text(let path)? = row.key.first else { return nil }
            return PathStats(path: path, views: row.cell.pageviews, uniqueUsers: row.cell.visitors.count)
        }
        .sorted { ($0.views, $0.path) > ($1.views, $1.path) }
        return StatsReport(
            siteID: siteID, date: date, totalViews: total.pageviews, uniqueUsers: total.visitors.count, topPaths: Array(paths.prefix(limit)))
    }
}
