import Foundation

/// `GET /stats`: one site's page views on one UTC day, aggregated from stored events on read.
public struct StatsQuery: Sendable, Equatable {
    /// The site.
    public var siteID: String
    /// The day, `YYYY-MM-DD`.
    public var date: String
    /// Midnight UTC starting the day, Unix milliseconds.
    public var dayStart: Int64
    /// How many top paths to return (1–100).
    public var limit: Int

    /// Validates the query parameters; errors name the parameter at fault.
    public init(siteID: String?, date: String?, limit: String?) throws(ValidationError) {
        guard let siteID, !siteID.isEmpty else { throw .field("site_id", "is required") }
        guard siteID.utf8.count <= 64, siteID.utf8.allSatisfy(EventValidator.siteIDCharacters.contains) else {
            throw .field("site_id", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
        }
        guard let date, !date.isEmpty else { throw .field("date", "is required (YYYY-MM-DD)") }
        guard let start = Timestamp.parseDay(date) else { throw .field("date", "must be a valid date as YYYY-MM-DD") }
        var count = 10
        if let limit {
            guard let parsed = Int(limit), (1...100).contains(parsed) else { throw .field("limit", "must be an integer from 1 to 100") }
            count = parsed
        }
        self.siteID = siteID
        self.date = date
        self.dayStart = start
        self.limit = count
    }

    /// The same answer as one aggregation pipeline over raw events, as JSON: the bench's
    /// baseline, and what `/stats` ran before the query engine: page views of the site in `[dayStart, dayStart + 1 day)`,
    /// totals and top paths in one `$facet`. `count` is summed, so a throttled summary counts
    /// for every event it stands for; users are distinct non-empty `userid`s.
    public var pipelineJSON: String {
        let site = JSONValue.string(siteID).serialized
        let range = #"{"$gte": {"$date": {"$numberLong": "\#(dayStart)"}}, "$lt": {"$date": {"$numberLong": "\#(dayStart + 86_400_000)"}}}"#
        let distinctUsers = #"{"$size": {"$setDifference": ["$users", [null, ""]]}}"#
        return """
            [{"$match": {"site_id": \(site), "event_type": "page_view", "timestamp": \(range)}},
             {"$facet": {
               "totals": [{"$group": {"_id": null, "views": {"$sum": "$count"}, "users": {"$addToSet": "$userid"}}},
                          {"$project": {"_id": 0, "views": 1, "unique_users": \(distinctUsers)}}],
               "paths": [{"$group": {"_id": "$path", "views": {"$sum": "$count"}, "users": {"$addToSet": "$userid"}}},
                         {"$project": {"_id": 0, "path": "$_id", "views": 1, "unique_users": \(distinctUsers)}},
                         {"$sort": {"views": -1, "path": -1}},
                         {"$limit": \(limit)}]
             }}]
            """
    }

    /// Builds the answer from the pipeline's single result document (none when nothing matched).
    public func report(fromAggregate documents: [Data]) throws -> StatsReport {
        guard let first = documents.first else {
            return StatsReport(siteID: siteID, date: date, totalViews: 0, uniqueUsers: 0, topPaths: [])
        }
        let facet = try JSONDecoder().decode(FacetResult.self, from: first)
        let totals = facet.totals.first
        return StatsReport(
            siteID: siteID, date: date,
            totalViews: totals?.views.value ?? 0, uniqueUsers: totals?.uniqueUsers.value ?? 0,
            topPaths: facet.paths.map { PathStats(path: $0.path ?? "", views: $0.views.value, uniqueUsers: $0.uniqueUsers.value) }
        )
    }

    private struct FacetResult: Decodable {
        struct Totals: Decodable {
            var views: Whole
            var uniqueUsers: Whole
            enum CodingKeys: String, CodingKey { case views, uniqueUsers = "unique_users" }
        }
        struct Path: Decodable {
            var path: String?
            var views: Whole
            var uniqueUsers: Whole
            enum CodingKeys: String, CodingKey { case path, views, uniqueUsers = "unique_users" }
        }
        var totals: [Totals]
        var paths: [Path]
    }
}

/// A count that MongoDB may return as an int32, an int64 or a double.
private struct Whole: Decodable {
    var value: Int
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let int = try? container.decode(Int.self) {
            value = int
        } else {
            value = Int(try container.decode(Double.self))
        }
    }
}

/// The `stats` object of seed 004's answer.
public struct StatsReport: Sendable, Equatable, Codable {
    /// The site asked about.
    public var siteID: String
    /// The day asked about.
    public var date: String
    /// Page views that day (throttled summaries count for all they stand for).
    public var totalViews: Int
    /// Distinct non-empty user ids that day.
    public var uniqueUsers: Int
    /// Paths by views descending.
    public var topPaths: [PathStats]

    enum CodingKeys: String, CodingKey {
        case siteID = "site_id", date, totalViews = "total_views", uniqueUsers = "unique_users", topPaths = "top_paths"
    }
}

/// One entry of `top_paths`.
public struct PathStats: Sendable, Equatable, Codable {
    /// The path.
    public var path: String
    /// Page views of the path.
    public var views: Int
    /// Distinct users who viewed it.
    public var uniqueUsers: Int

    /// Creates an entry.
    public init(path: String, views: Int, uniqueUsers: Int) {
        self.path = path
        self.views = views
        self.uniqueUsers = uniqueUsers
    }

    enum CodingKeys: String, CodingKey { case path, views, uniqueUsers = "unique_users" }
}
