/// `POST /api/v2/query` (Plausible's Stats API v2): a JSON query read and checked without
/// touching the store. Every refusal is a 400 whose message starts with the JSON path at fault
/// (`#/metrics/0: …`), as Plausible's are.
public struct StatsV2Query: Sendable {
    /// A dimension as asked: a property, or time in a given or automatic interval.
    public enum QueryDimension: Sendable, Equatable {
        /// A property (`event:page`, `visit:source`, …).
        case property(Property)
        /// `time:hour|day|week|month`, or `time` (nil): the interval follows the date range.
        case time(StatsInterval?)
    }

    /// A metric or a dimension of the query, for `order_by`.
    public enum Field: Sendable, Equatable {
        /// A queried metric.
        case metric(Metric)
        /// The queried dimension at this index.
        case dimension(Int)
    }

    /// `date_range` as given: a name (`7d`, `month`, …) or two ISO 8601 dates or date-times.
    public enum DateRange: Sendable, Equatable {
        /// `day`, `7d`, `28d`, `30d`, `91d`, `month`, `6mo`, `12mo`, `year`, `all`, or `Nd`/`Nmo`.
        case named(String)
        /// `["2024-01-01", "2024-01-31"]` or two date-times with offsets.
        case between(String, String)
    }

    /// The site (`site_id`).
    public var siteID: String
    /// The metrics, in the order asked.
    public var metrics: [Metric]
    /// The period.
    public var dateRange: DateRange
    /// The grouping, in the order asked.
    public var dimensions: [QueryDimension]
    /// The filters (top-level ones joined by and); nil for none.
    public var filter: Filter?
    /// The filters as sent, echoed in `query.filters`.
    public var filtersJSON: [JSONValue]
    /// `order_by` as sent; nil for Plausible's default order.
    public var order: [(field: Field, ascending: Bool)]?
    /// `pagination.limit` (1–10,000) and `pagination.offset`.
    public var limit = 10_000, offset = 0
    /// `include.time_labels`, `include.total_rows` and `include.imports` (no imports here: ignored).
    public var timeLabels = false, totalRows = false, imports = false

    /// Largest `pagination.limit`.
    public static let maxLimit = 10_000
    /// Most dimensions and most `order_by` entries a query may list.
    public static let maxDimensions = 10, maxOrderEntries = 20

    private static let keys: Set<String> = ["site_id", "metrics", "date_range", "dimensions", "filters", "order_by", "include", "pagination"]

    /// The `site_id` of a body, before the rest is checked (access is decided first).
    public static func siteID(of body: StatsQueryJSON) -> String? {
        guard case .object(let members) = body else { return nil }
        return members["site_id"]?.string
    }

    /// Reads and checks a query body.
    public init(_ body: StatsQueryJSON) throws(StatsAPIError) {
        guard case .object(let members) = body else { throw StatsAPIError("#: the query must be a JSON object.") }
        if let unknown = members.keys.filter({ !Self.keys.contains($0) }).sorted().first {
            throw StatsAPIError("#: Schema does not allow additional properties (\(StatsQueryRules.quoted(unknown))).")
        }
        for required in ["site_id", "metrics", "date_range"] where members[required] == nil {
            throw StatsAPIError("#: Required property \(required) was not present.")
        }
        guard let site = members["site_id"]?.string, !site.isEmpty else { throw StatsAPIError("#/site_id: Type mismatch. Expected String.") }
        siteID = site
        metrics = try Self.metrics(members["metrics"])
        dateRange = try Self.dateRange(members["date_range"])
        dimensions = try Self.dimensions(members["dimensions"])
        (filter, filtersJSON) = try Self.filters(members["filters"])
        order = try Self.order(members["order_by"], metrics: metrics, dimensions: dimensions)
        try readPagination(members["pagination"])
        try readInclude(members["include"])
        try check()
    }

    /// The properties among the dimensions.
    public var propertyDimensions: [Property] {
        dimensions.compactMap { if case .property(let property) = $0 { property } else { nil } }
    }

    /// The time dimension's index, if there is one.
    public var timeIndex: Int? {
        dimensions.firstIndex { if case .time = $0 { true } else { false } }
    }

    private static func metrics(_ value: StatsQueryJSON?) throws(StatsAPIError) -> [Metric] {
        guard let items = value?.array else { throw StatsAPIError("#/metrics: Type mismatch. Expected Array of metrics.") }
        guard !items.isEmpty else { throw StatsAPIError("#/metrics: Expected a minimum of 1 items but got 0.") }
        var metrics: [Metric] = []
        for (index, item) in items.enumerated() {
            switch item.string.map(StatsQueryRules.metric) ?? .unknown {
            case .found(let metric):
                guard !metrics.contains(metric) else { throw StatsAPIError("#/metrics: Expected items to be unique but they were not.") }
                metrics.append(metric)
            case .unsupported:
                throw StatsAPIError("#/metrics/\(index): Metric \(item.quoted) is not supported by this server; use visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration or events.")
            case .unknown:
                throw StatsAPIError("#/metrics/\(index): Invalid metric \(item.quoted)")
            }
        }
        return metrics
    }

    private static func dateRange(_ value: StatsQueryJSON?) throws(StatsAPIError) -> DateRange {
        switch value {
        case .string(let name)?:
            guard name.utf8.count <= 16 else { throw StatsAPIError("#/date_range: Invalid date range \(value?.quoted ?? "")") }
            return .named(name)
        case .array(let items)?:
            guard items.count == 2, let from = items.first?.string, let to = items.last?.string, from.utf8.count <= 40, to.utf8.count <= 40 else {
                throw StatsAPIError("#/date_range: Invalid date range \(value?.quoted ?? ""): use a name such as \"7d\" or two ISO 8601 dates.")
            }
            return .between(from, to)
        default:
            throw StatsAPIError("#/date_range: Invalid date range \(value?.quoted ?? "null")")
        }
    }

    private static func dimensions(_ value: StatsQueryJSON?) throws(StatsAPIError) -> [QueryDimension] {
        guard let value else { return [] }
        guard let items = value.array else { throw StatsAPIError("#/dimensions: Type mismatch. Expected Array of dimensions.") }
        guard items.count <= maxDimensions else { throw StatsAPIError("#/dimensions: at most \(maxDimensions) dimensions are accepted.") }
        var dimensions: [QueryDimension] = []
        for (index, item) in items.enumerated() {
            guard let name = item.string else { throw StatsAPIError("#/dimensions/\(index): Invalid dimension \(item.quoted)") }
            let dimension: QueryDimension
            if let time = timeDimension(name) {
                guard !dimensions.contains(where: { if case .time = $0 { true } else { false } }) else {
                    throw StatsAPIError("#/dimensions/\(index): at most one time dimension may be given.")
                }
                dimension = time
            } else {
                switch StatsQueryRules.property(name) {
                case .found(let property): dimension = .property(property)
                case .unsupported: throw StatsAPIError("#/dimensions/\(index): Dimension \(item.quoted) is not supported by this server.")
                case .unknown:
                    let hint = name == "time:minute" ? " (use time:hour, time:day, time:week or time:month)" : ""
                    throw StatsAPIError("#/dimensions/\(index): Invalid dimension \(item.quoted)\(hint)")
                }
            }
            guard !dimensions.contains(dimension) else { throw StatsAPIError("#/dimensions: Expected items to be unique but they were not.") }
            dimensions.append(dimension)
        }
        return dimensions
    }

    /// `time`, `time:hour`, `time:day`, `time:week`, `time:month`.
    private static func timeDimension(_ name: String) -> QueryDimension? {
        switch name {
        case "time": .time(nil)
        case "time:hour": .time(.hour)
        case "time:day": .time(.day)
        case "time:week": .time(.week)
        case "time:month": .time(.month)
        default: nil
        }
    }

    private static func order(_ value: StatsQueryJSON?, metrics: [Metric], dimensions: [QueryDimension]) throws(StatsAPIError) -> [(field: Field, ascending: Bool)]? {
        guard let value else { return nil }
        guard let items = value.array else { throw StatsAPIError("#/order_by: Invalid order_by \(value.quoted)") }
        guard items.count <= maxOrderEntries else { throw StatsAPIError("#/order_by: at most \(maxOrderEntries) entries are accepted.") }
        var order: [(field: Field, ascending: Bool)] = []
        for (index, item) in items.enumerated() {
            guard let pair = item.array, pair.count == 2, let name = pair.first?.string, let direction = pair.last?.string,
                  direction == "asc" || direction == "desc"
            else { throw StatsAPIError("#/order_by/\(index): Invalid value in order_by \(item.quoted)") }
            let field: Field
            if let metric = Metric(rawValue: name), metrics.contains(metric) {
                field = .metric(metric)
            } else if let position = dimensions.firstIndex(where: { dimensionName($0) == name || (name == "time" && isTime($0)) }) {
                field = .dimension(position)
            } else {
                throw StatsAPIError("#/order_by/\(index): Invalid order_by entry \(item.quoted). Entry is not a queried metric or dimension.")
            }
            order.append((field, direction == "asc"))
        }
        return order
    }

    private mutating func readPagination(_ value: StatsQueryJSON?) throws(StatsAPIError) {
        guard let value else { return }
        guard case .object(let members) = value else { throw StatsAPIError("#/pagination: Type mismatch. Expected Object.") }
        if let unknown = members.keys.filter({ $0 != "limit" && $0 != "offset" }).sorted().first {
            throw StatsAPIError("#/pagination: Schema does not allow additional properties (\(StatsQueryRules.quoted(unknown))).")
        }
        if let given = members["limit"] {
            guard case .int(let limit) = given, (1...Self.maxLimit).contains(limit) else {
                throw StatsAPIError("#/pagination/limit: must be an integer from 1 to \(Self.maxLimit).")
            }
            self.limit = limit
        }
        if let given = members["offset"] {
            guard case .int(let offset) = given, offset >= 0 else { throw StatsAPIError("#/pagination/offset: must be an integer of at least 0.") }
            self.offset = offset
        }
    }

    private mutating func readInclude(_ value: StatsQueryJSON?) throws(StatsAPIError) {
        guard let value else { return }
        guard case .object(let members) = value else { throw StatsAPIError("#/include: Invalid include \(value.quoted).") }
        for (key, member) in members.sorted(by: { $0.key < $1.key }) {
            if key == "comparisons" { throw StatsAPIError("#/include/comparisons: comparisons are not supported by this server.") }
            guard ["time_labels", "total_rows", "imports"].contains(key) else { throw StatsAPIError("#/include: Invalid include \(value.quoted).") }
            guard case .bool(let flag) = member else { throw StatsAPIError("#/include/\(key): Type mismatch. Expected Boolean.") }
            switch key {
            case "time_labels": timeLabels = flag
            case "total_rows": totalRows = flag
            default: imports = flag
            }
        }
    }

    /// Plausible's rules across fields: which metrics go with which dimensions and filters.
    private func check() throws(StatsAPIError) {
        if timeLabels, timeIndex == nil { throw StatsAPIError("Invalid include.time_labels: requires a time dimension.") }
        let filtered = filter?.properties ?? []
        for metric in metrics {
            if let refusal = StatsQueryRules.refusal(of: metric, dimensions: propertyDimensions, filtered: filtered, v1: false) {
                // views_per_visit is refused with any dimension, time included.
                throw StatsAPIError(refusal)
            }
            if metric == .viewsPerVisit, !dimensions.isEmpty { throw StatsAPIError("Metric `views_per_visit` cannot be queried with `dimensions`.") }
        }
    }

    /// A dimension's name as the query echoes it (`time` resolved to its interval).
    static func dimensionName(_ dimension: QueryDimension) -> String {
        switch dimension {
        case .property(let property): property.name
        case .time(let interval?): "time:" + interval.rawValue
        case .time(nil): "time"
        }
    }

    private static func isTime(_ dimension: QueryDimension) -> Bool {
        if case .time = dimension { return true }
        return false
    }
}
