/// A Stats API v1 request (`/api/v1/stats/aggregate`, `/timeseries`, `/breakdown`): its query
/// parameters read and checked without touching the store, with Plausible's names, defaults
/// and error messages. Every refusal is a 400 naming the parameter.
public struct StatsV1Query: Sendable, Equatable {
    /// Which v1 endpoint is asked.
    public enum Endpoint: String, Sendable {
        /// `GET /api/v1/stats/aggregate`: one value per metric.
        case aggregate
        /// `GET /api/v1/stats/timeseries`: one row per time bucket.
        case timeseries
        /// `GET /api/v1/stats/breakdown`: one row per value of a property.
        case breakdown
    }

    /// The endpoint.
    public var endpoint: Endpoint
    /// `site_id`.
    public var siteID: String
    /// `period` (default `30d`; `custom` holds the days of `date=A,B`).
    public var period: StatsPeriod
    /// `date`; nil for today in the site's time zone.
    public var date: LocalDate?
    /// `metrics` (default `visitors`), in the order asked.
    public var metrics: [Metric]
    /// `filters`; nil for none.
    public var filter: Filter?
    /// `property` of a breakdown.
    public var property: Property?
    /// `interval` of a time series; nil for the period's default.
    public var interval: StatsInterval?
    /// `limit` (1–1000, default 100) and `page` (from 1) of a breakdown.
    public var limit = 100, page = 1
    /// `compare=previous_period` (aggregate only).
    public var compare = false

    /// Largest `limit` of a breakdown.
    public static let maxLimit = 1000
    /// Longest value of any other parameter, in UTF-8 bytes.
    public static let maxParameterBytes = 1024
    /// The parameters read besides `filters` (others are ignored, as Plausible ignores them).
    static let boundedParameters = ["site_id", "period", "date", "metrics", "property", "interval", "limit", "page", "compare"]

    /// Reads `parameters` (name to value, the first of repeated names) for `endpoint`.
    public init(_ endpoint: Endpoint, parameters: [String: String]) throws(StatsAPIError) {
        for name in Self.boundedParameters where (parameters[name]?.utf8.count ?? 0) > Self.maxParameterBytes {
            throw StatsAPIError("Error parsing `\(StatsQueryRules.printable(name))` parameter: at most \(Self.maxParameterBytes) bytes are accepted.")
        }
        self.endpoint = endpoint
        guard let site = parameters["site_id"], !site.isEmpty else {
            throw StatsAPIError("Missing site ID. Please provide the required site_id parameter with your request.")
        }
        siteID = site
        metrics = [.visitors]
        period = try Self.period(parameters["period"], date: parameters["date"])
        let isCustom: Bool = if case .custom = period { true } else { false }
        if !isCustom, let text = parameters["date"] {
            guard let day = Self.date(text) else {
                throw StatsAPIError("Error parsing `date` parameter: invalid_format. Please specify a valid date in ISO-8601 format.")
            }
            date = day
        }
        if let text = parameters["filters"] { filter = try Self.parseFilters(text) }
        if endpoint == .breakdown { property = try Self.breakdownProperty(parameters["property"]) }
        if endpoint == .timeseries, let text = parameters["interval"] {
            switch text {
            case "day", "date": interval = .day
            case "month": interval = .month
            default:
                throw StatsAPIError("Error parsing `interval` parameter: invalid interval `\(StatsQueryRules.printable(text))`. Valid intervals are `day`, `month`")
            }
        }
        if let text = parameters["metrics"] { metrics = try Self.metrics(text) }
        try checkMetrics()
        if endpoint == .breakdown {
            if let text = parameters["limit"] {
                guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                    throw StatsAPIError("Please provide limit as a number between 1 and \(Self.maxLimit).")
                }
                limit = value
            }
            if let text = parameters["page"] {
                guard let value = Int(text), value > 0 else { throw StatsAPIError("Please provide page as a positive number.") }
                page = value
            }
        }
        if let text = parameters["compare"] {
            guard text == "previous_period" else {
                throw StatsAPIError("Error parsing `compare` parameter: invalid value `\(StatsQueryRules.printable(text))`. The only valid value is `previous_period`.")
            }
            compare = endpoint == .aggregate
        }
    }

    /// The breakdown's offset: rows before the page, saturating rather than overflowing.
    public var offset: Int {
        let (product, overflow) = (page - 1).multipliedReportingOverflow(by: limit)
        return overflow ? Int.max : product
    }

    /// v1's periods: `day`, `7d`, `30d`, `month`, `6mo`, `12mo` and `custom` with `date=A,B`.
    private static func period(_ text: String?, date: String?) throws(StatsAPIError) -> StatsPeriod {
        let name = text ?? "30d"
        if ["day", "7d", "30d", "month", "6mo", "12mo"].contains(name), let named = StatsPeriod.v1Names[name] { return named }
        switch name {
        case "custom":
            guard let date else {
                throw StatsAPIError("The `date` parameter is required when using a custom period. See https://plausible.io/docs/stats-api#time-periods")
            }
            let parts = date.split(separator: ",", omittingEmptySubsequences: false).map { String($0.statsTrimmed) }
            guard parts.count == 2, let first = parts.first.flatMap(Self.date), let last = parts.last.flatMap(Self.date) else {
                throw StatsAPIError(
                    "Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See https://plausible.io/docs/stats-api#time-periods")
            }
            guard first <= last else { throw StatsAPIError("Invalid `date` parameter: the first day of a custom period (\(first)) is after the last (\(last)).") }
            return .custom(first, last)
        default:
            throw StatsAPIError(
                "Error parsing `period` parameter: invalid period `\(StatsQueryRules.printable(text ?? ""))`. Please find accepted values in our docs: https://plausible.io/docs/stats-api#time-periods")
        }
    }

    /// A date written `YYYY-MM-DD`.
    static func date(_ text: String) -> LocalDate? {
        LocalDate(parsing: text)
    }

    private static func breakdownProperty(_ text: String?) throws(StatsAPIError) -> Property {
        guard let text else {
            throw StatsAPIError("The `property` parameter is required. Please provide at least one property to show a breakdown by.")
        }
        if text == "event:hostname" {
            throw StatsAPIError(
                "Property 'event:hostname' is currently not supported for breakdowns.  Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties")
        }
        switch StatsQueryRules.property(text) {
        case .found(let property): return property
        case .unsupported:
            throw StatsAPIError("Invalid property \(StatsQueryRules.quoted(text)): this server does not record it. Please provide a supported property for the breakdown endpoint.")
        case .unknown:
            throw StatsAPIError(
                "Invalid property \(StatsQueryRules.quoted(text)). Please provide a valid property for the breakdown endpoint: https://plausible.io/docs/stats-api#properties")
        }
    }

    private static func metrics(_ text: String) throws(StatsAPIError) -> [Metric] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard Set(names).count == names.count else { throw StatsAPIError("Metrics cannot be queried multiple times.") }
        var metrics: [Metric] = []
        for name in names {
            switch StatsQueryRules.metric(name) {
            case .found(let metric): metrics.append(metric)
            case .unsupported:
                throw StatsAPIError(
                    "The metric `\(StatsQueryRules.printable(name))` is not supported by this server. Valid metrics are visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration and events.")
            case .unknown:
                throw StatsAPIError(
                    "The metric `\(StatsQueryRules.printable(name))` is not recognized. Find valid metrics from the documentation: https://plausible.io/docs/stats-api#metrics")
            }
        }
        return metrics
    }

    /// Plausible's v1 rules on metrics with breakdown properties and filters.
    private func checkMetrics() throws(StatsAPIError) {
        let dimensions = property.map { [$0] } ?? []
        let filtered = filter?.properties ?? []
        for metric in metrics {
            if let refusal = StatsQueryRules.refusal(of: metric, dimensions: dimensions, filtered: filtered, v1: true) {
                throw StatsAPIError(refusal)
            }
        }
    }
}
