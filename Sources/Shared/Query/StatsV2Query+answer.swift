/// What a v2 query asks the engine, and how the engine's answer is written back.
public struct StatsV2Plan: Sendable {
    /// The query as read.
    public var query: StatsV2Query
    /// The question for the engine.
    public var request: StatsRequest
    /// The interval of the time dimension, if there is one (`time` resolved by the date range).
    public var interval: StatsInterval?
    /// The buckets of the time dimension over the date range, in order.
    public var buckets: [TimeBucket] = []
    /// The order results are sorted in, as `query.order_by` echoes it.
    public var order: [StatsOrder] = []
    /// `query.date_range`: the first and last second of the range in the site's time zone.
    public var dateRange: (first: String, last: String)
    /// The site's calendar.
    public var calendar: SiteCalendar
}

extension StatsV2Query {
    /// Turns the query into an engine question in `calendar` (the site's), `now` being the
    /// current instant; `statsStart` is the site's first day with stats (for `all`).
    public func plan(calendar: SiteCalendar, now: Int64, statsStart: LocalDate? = nil) throws(StatsAPIError) -> StatsV2Plan {
        let resolved: ResolvedPeriod
        do {
            switch dateRange {
            case .named(let name): resolved = try calendar.resolve(v2DateRange: name, date: nil, now: now, statsStart: statsStart)
            case .between(let from, let to): resolved = try calendar.resolve(v2DateRange: [from, to])
            }
        } catch {
            throw StatsAPIError("#/date_range: \(error.message)")
        }
        var interval: StatsInterval?
        let dimensions = self.dimensions.map { dimension -> Dimension in
            switch dimension {
            case .property(let property): return .property(property)
            case .time(let given):
                let chosen = given ?? resolved.defaultInterval
                interval = chosen
                return .time(chosen)
            }
        }
        try StatsQueryRules.checkSize(of: resolved.range, interval: interval, parameter: "#/date_range")
        let range = resolved.range
        var plan = StatsV2Plan(
            query: self, request: StatsRequest(siteID: siteID, calendar: calendar, range: range, dimensions: dimensions, filter: filter),
            interval: interval, dateRange: (calendar.isoTime(range.start), calendar.isoTime(max(range.start, range.end - 1000))),
            calendar: calendar)
        if let interval { plan.buckets = calendar.buckets(range, interval: interval) }
        plan.order = order?.map { entry in
            switch entry.field {
            case .metric(let metric): StatsOrder(.metric(metric), ascending: entry.ascending)
            case .dimension(let index): StatsOrder(.dimension(index), ascending: entry.ascending)
            }
        } ?? defaultOrder
        return plan
    }

    /// Plausible's default: the time dimension ascending, then the first metric descending.
    private var defaultOrder: [StatsOrder] {
        var order: [StatsOrder] = []
        if let timeIndex { order.append(StatsOrder(.dimension(timeIndex), ascending: true)) }
        if let first = metrics.first { order.append(StatsOrder(.metric(first), ascending: false)) }
        return order
    }
}

extension StatsV2Plan {
    /// The answer body: `results` (sorted, paged), `meta` (`time_labels`, `total_rows` when
    /// asked) and `query` (the query as run).
    public func render(_ result: StatsResult) -> JSONValue {
        var rows = result.rows
        if query.dimensions.isEmpty {
            rows = [([], result.rows.reduce(into: Cell()) { $0.merge($1.cell) })]
        }
        let labels = Dictionary(buckets.map { (bucketKey($0), $0.label) }, uniquingKeysWith: { first, _ in first })
        let page = StatsRows.page(StatsRows.sorted(rows, by: order), offset: query.offset, limit: query.limit)
        let results = page.map { row -> JSONValue in
            .object([
                ("metrics", .array(query.metrics.map { StatsJSON.value($0, of: row.cell) })),
                ("dimensions", .array(zip(query.dimensions, row.key).map { dimensionJSON($0, $1, labels: labels) })),
            ])
        }
        var meta: [(String, JSONValue)] = []
        if query.timeLabels { meta.append(("time_labels", .array(buckets.map { .string($0.label) }))) }
        if query.totalRows { meta.append(("total_rows", .int(rows.count))) }
        return .object([("results", .array(results)), ("meta", .object(meta)), ("query", queryJSON)])
    }

    /// The query as run: `time` resolved, the default order spelled out, pagination filled in.
    var queryJSON: JSONValue {
        let names = query.dimensions.map { dimension -> String in
            if case .time = dimension, let interval { return "time:" + interval.rawValue }
            return StatsV2Query.dimensionName(dimension)
        }
        let orderJSON = order.map { entry -> JSONValue in
            let name: String = switch entry.key {
            case .metric(let metric): metric.rawValue
            case .dimension(let index): index < names.count ? names[index] : ""
            }
            return .array([.string(name), .string(entry.ascending ? "asc" : "desc")])
        }
        var include: [(String, JSONValue)] = []
        if query.imports { include.append(("imports", .bool(true))) }
        if query.timeLabels { include.append(("time_labels", .bool(true))) }
        if query.totalRows { include.append(("total_rows", .bool(true))) }
        return .object([
            ("site_id", .string(query.siteID)),
            ("metrics", .array(query.metrics.map { .string($0.rawValue) })),
            ("date_range", .array([.string(dateRange.first), .string(dateRange.last)])),
            ("filters", .array(query.filtersJSON)),
            ("dimensions", .array(names.map(JSONValue.string))),
            ("order_by", .array(orderJSON)),
            ("include", .object(include)),
            ("pagination", .object([("limit", .int(query.limit)), ("offset", .int(query.offset))])),
        ])
    }

    /// The engine's key of a bucket: the unclipped start of the bucket holding its first instant.
    private func bucketKey(_ bucket: TimeBucket) -> Int64 {
        guard let interval else { return bucket.start }
        return calendar.bucketStart(of: bucket.start, interval: interval)
    }

    /// A dimension value as Plausible writes it: a time bucket's label, a property's text.
    private func dimensionJSON(_ dimension: StatsV2Query.QueryDimension, _ value: DimensionValue, labels: [Int64: String]) -> JSONValue {
        switch (dimension, value) {
        case (.property(let property), .text(let text)): .string(StatsJSON.text(text, of: property))
        case (_, .time(let start)): .string(labels[start] ?? calendar.localDate(of: start).description)
        case (_, .text(let text)): .string(text)
        }
    }
}

extension SiteCalendar {
    /// `YYYY-MM-DDTHH:MM:SS±HH:MM`: the instant `millis` (to the second) on this zone's clock.
    func isoTime(_ millis: Int64) -> String {
        let offset = offset(at: millis)
        let wall = Self.floorDiv(millis + offset, 1000) * 1000
        let day = LocalDate(daysSince1970: Int(Self.floorDiv(wall, Self.dayMillis)))
        let seconds = Int((wall - Self.floorDiv(wall, Self.dayMillis) * Self.dayMillis) / 1000)
        let zone = Int(offset.magnitude / 60_000)
        return day.description + "T" + LocalDate.pad(seconds / 3600, 2) + ":" + LocalDate.pad(seconds / 60 % 60, 2) + ":"
            + LocalDate.pad(seconds % 60, 2) + (offset < 0 ? "-" : "+") + LocalDate.pad(zone / 60, 2) + ":" + LocalDate.pad(zone % 60, 2)
    }
}
