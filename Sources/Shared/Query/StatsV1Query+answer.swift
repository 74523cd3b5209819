/// What a v1 request asks the engine, and how the engine's answer is written back.
public struct StatsV1Plan: Sendable {
    /// The request as read.
    public var query: StatsV1Query
    /// The question for the engine.
    public var request: StatsRequest
    /// The previous period of equal length, for `compare=previous_period`.
    public var previous: StatsRequest?
    /// The time series' interval.
    public var interval: StatsInterval?
    /// The time series' buckets, in order, empty ones included.
    public var buckets: [TimeBucket] = []
    /// The engine's key (unclipped bucket start) of each bucket.
    public var bucketKeys: [Int64] = []
}

extension StatsV1Query {
    /// Turns the request into engine questions in `calendar` (the site's), `now` being the
    /// current instant (the default `date` is today there).
    public func plan(calendar: SiteCalendar, now: Int64) throws(StatsAPIError) -> StatsV1Plan {
        let range = calendar.range(period: period, date: date, now: now)
        var dimensions: [Dimension] = []
        var interval: StatsInterval?
        switch endpoint {
        case .aggregate: break
        case .timeseries:
            let chosen = self.interval ?? period.defaultInterval
            interval = chosen
            dimensions = [.time(chosen)]
        case .breakdown:
            dimensions = Self.breakdownDimensions(property).map { .property($0) }
        }
        try StatsQueryRules.checkSize(of: range, interval: interval, parameter: "Invalid `period` and `date` parameters")
        var plan = StatsV1Plan(
            query: self, request: StatsRequest(siteID: siteID, calendar: calendar, range: range, dimensions: dimensions, filter: filter),
            interval: interval)
        if let interval {
            plan.buckets = calendar.buckets(range, interval: interval)
            plan.bucketKeys = plan.buckets.map { calendar.bucketStart(of: $0.start, interval: interval) }
        }
        if compare, let dates = calendar.dates(period: period, date: date, now: now) {
            let span = Self.previousPeriod(of: dates, today: calendar.localDate(of: now))
            plan.previous = StatsRequest(siteID: siteID, calendar: calendar, range: calendar.range(span), filter: filter)
        }
        return plan
    }

    /// Plausible's previous period: as many days as the period has up to today, ending the
    /// day before it starts (a month in progress on the 15th compares with the 15 days before).
    public static func previousPeriod(of dates: LocalDateSpan, today: LocalDate) -> LocalDateSpan {
        let last = today >= dates.first && today < dates.last ? today : dates.last
        let days = last.daysSince1970 - dates.first.daysSince1970 + 1
        return LocalDateSpan(first: dates.first.adding(days: -days), last: last.adding(days: -days)) ?? dates
    }

    /// The engine's dimensions for a breakdown by `property`: a version is broken down with
    /// its browser or system, as Plausible does.
    static func breakdownDimensions(_ property: Property?) -> [Property] {
        switch property {
        case .browserVersion?: [.browser, .browserVersion]
        case .osVersion?: [.os, .osVersion]
        case let property?: [property]
        case nil: []
        }
    }

    /// The key of a property in a breakdown row: its name without `event:`/`visit:`, a custom
    /// property's own key.
    public static func resultKey(_ property: Property) -> String {
        if case .prop(let key) = property { return key }
        let name = property.name
        guard let colon = name.firstIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }
}

extension StatsV1Plan {
    /// The answer body for the engine's `result` (and `previous`, the previous period's, when comparing).
    public func render(_ result: StatsResult, previous: StatsResult? = nil) -> JSONValue {
        switch query.endpoint {
        case .aggregate: renderAggregate(result, previous: previous)
        case .timeseries: renderTimeseries(result)
        case .breakdown: renderBreakdown(result)
        }
    }

    /// `{"results": {"visitors": {"value": 1}}}`; with a comparison, `comparison_value` and `change` too.
    private func renderAggregate(_ result: StatsResult, previous: StatsResult?) -> JSONValue {
        let cell = Self.total(result)
        let before = previous.map(Self.total)
        let members = query.metrics.map { metric -> (String, JSONValue) in
            var entry: [(String, JSONValue)] = [("value", StatsJSON.value(metric, of: cell))]
            if let before {
                let change = StatsComparison.change(metric, previous: before.value(metric), current: cell.value(metric))
                entry.append(("comparison_value", StatsJSON.value(metric, of: before)))
                entry.append(("change", change.map(JSONValue.int) ?? .null))
            }
            return (metric.rawValue, .object(entry))
        }
        return .object([("results", .object(members))])
    }

    /// `{"results": [{"date": "2024-01-01", "visitors": 1}, …]}`, one row per bucket, empty ones included.
    private func renderTimeseries(_ result: StatsResult) -> JSONValue {
        let rows = StatsRows.filled(result.rows, bucketStarts: bucketKeys)
        let items = zip(buckets, rows).map { bucket, row -> JSONValue in
            .object([("date", .string(bucket.label))] + query.metrics.map { ($0.rawValue, StatsJSON.value($0, of: row.cell)) })
        }
        return .object([("results", .array(items))])
    }

    /// `{"results": [{"page": "/", "visitors": 1}, …]}`: by the first metric, largest first,
    /// then by the property's value; `limit` rows of page `page`.
    private func renderBreakdown(_ result: StatsResult) -> JSONValue {
        let properties = StatsV1Query.breakdownDimensions(query.property)
        let last = max(0, properties.count - 1)
        var rows = result.rows
        if let property = query.property, Self.dropsEmpty.contains(property) { rows = StatsRows.droppingEmpty(rows, at: last) }
        var order = [StatsOrder(.dimension(last), ascending: true)]
        if let first = query.metrics.first { order.insert(StatsOrder(.metric(first), ascending: false), at: 0) }
        let page = StatsRows.page(StatsRows.sorted(rows, by: order), offset: query.offset, limit: query.limit)
        let items = page.map { row -> JSONValue in
            var members: [(String, JSONValue)] = []
            for (index, property) in properties.enumerated() {
                let text: String = if index < row.key.count, case .text(let value) = row.key[index] { value } else { "" }
                members.append((StatsV1Query.resultKey(property), .string(StatsJSON.text(text, of: property))))
            }
            members += query.metrics.map { ($0.rawValue, StatsJSON.value($0, of: row.cell)) }
            return .object(members)
        }
        return .object([("results", .array(items))])
    }

    /// Properties whose empty values Plausible's v1 breakdown leaves out.
    private static let dropsEmpty: Set<Property> = [.country, .utmMedium, .utmSource, .utmCampaign, .utmContent, .utmTerm, .entryPage, .exitPage]

    /// Every row of an answer merged: the totals of an aggregate.
    private static func total(_ result: StatsResult) -> Cell {
        result.rows.reduce(into: Cell()) { $0.merge($1.cell) }
    }
}
