/// A Stats API request refused: answered with `status` and Plausible's body, `{"error": "…"}`.
/// The message names the parameter at fault and says what to send instead.
public struct StatsAPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, for the client.
    public var message: String
    /// The HTTP status: 400 unless said otherwise.
    public var status: Int

    /// A refusal with `message` and `status`.
    public init(_ message: String, status: Int = 400) {
        self.message = message
        self.status = status
    }

    /// Plausible's error body.
    public var json: JSONValue { .object([("error", .string(message))]) }

    /// The message.
    public var description: String { message }
}

/// The rules v1 and v2 share: which names are metrics and properties here, what Plausible
/// refuses to combine, and the bounds on what a client may ask for.
public enum StatsQueryRules {
    /// Longest text of one value (a filter value, a property key) a client may send, in UTF-8 bytes.
    public static let maxValueBytes = 2048
    /// Most values one filter condition may list.
    public static let maxValuesPerCondition = 1000
    /// Most time buckets a time series or `time` dimension may span (an hourly year is 8,784).
    public static let maxTimeBuckets = 10_000

    /// Longest period a query may span, in days (20 years): the engine's work grows with it.
    public static let maxRangeDays = 7305

    /// Refuses a range longer than `maxRangeDays` or cut into more than `maxTimeBuckets` buckets
    /// of `interval` (estimated from its length, before any bucket is built).
    static func checkSize(of range: TimeRange, interval: StatsInterval?, parameter: String) throws(StatsAPIError) {
        // `parameter` starts the message: "#/date_range" (v2) or a v1 parameter's name.
        let day: Int64 = 86_400_000
        guard range.duration <= Int64(maxRangeDays + 1) * day else {
            throw StatsAPIError("\(parameter): a period may span at most \(maxRangeDays) days.")
        }
        guard let interval else { return }
        let width: Int64 = switch interval {
        case .minute: 60_000
        case .hour: 3_600_000
        case .day: day
        case .week: 7 * day
        case .month: 28 * day
        }
        let estimate = range.duration / width + 2
        guard estimate <= Int64(maxTimeBuckets) else {
            throw StatsAPIError(
                "\(parameter): at most \(maxTimeBuckets) time buckets are served (this one would have about \(estimate) \(interval.rawValue) buckets); choose a longer interval or a shorter period.")
        }
    }

    /// Metrics Plausible has and this server does not compute (goals, revenue, engagement).
    static let unsupportedMetrics: Set<String> = [
        "conversion_rate", "group_conversion_rate", "time_on_page", "scroll_depth", "percentage", "total_revenue",
        "average_revenue", "exit_rate",
    ]

    /// Properties Plausible has and this server does not record (goals, regions, cities, channels, screens).
    static let unsupportedProperties: Set<String> = [
        "event:goal", "visit:region", "visit:city", "visit:country_name", "visit:region_name", "visit:city_name",
        "visit:channel", "visit:screen", "visit:entry_page_hostname", "visit:exit_page_hostname", "segment",
    ]

    /// What a name stands for.
    enum Lookup<Value> {
        /// A name this server serves.
        case found(Value)
        /// A name Plausible knows and this server does not serve.
        case unsupported
        /// Not a name at all.
        case unknown
    }

    /// The metric named `name`.
    static func metric(_ name: String) -> Lookup<Metric> {
        if let metric = Metric(rawValue: name) { return .found(metric) }
        return unsupportedMetrics.contains(name) ? .unsupported : .unknown
    }

    /// The property named `name` (`event:page`, `visit:source`, `event:props:plan`).
    static func property(_ name: String) -> Lookup<Property> {
        if name.utf8.count <= maxValueBytes, let property = Property(name) { return .found(property) }
        if unsupportedProperties.contains(name) { return .unsupported }
        return .unknown
    }

    /// Why `metric` cannot be asked for with these dimensions and filter properties, in
    /// Plausible's words; nil when it can. `breakdown` is v1's rule set (a breakdown refuses
    /// every session metric by an event-only property, and `visits` too), else v2's.
    static func refusal(of metric: Metric, dimensions: [Property], filtered: Set<Property>, v1: Bool) -> String? {
        let pageFilter = filtered.contains(.page)
        if metric == .viewsPerVisit {
            if pageFilter { return "Metric `views_per_visit` cannot be queried with a filter on `event:page`." }
            if !dimensions.isEmpty {
                return v1 ? "Metric `views_per_visit` is not supported in breakdown queries." : "Metric `views_per_visit` cannot be queried with `dimensions`."
            }
        }
        if v1 {
            // v1: visits, bounce_rate, visit_duration and views_per_visit are session metrics,
            // refused with an event-only property (name, props) as breakdown or filter.
            guard [.visits, .bounceRate, .visitDuration, .viewsPerVisit].contains(metric) else { return nil }
            if dimensions.count == 1, let only = dimensions.first, isEventOnly(only) {
                return "Session metric `\(metric.rawValue)` cannot be queried for breakdown by `\(only.name)`."
            }
            if let property = filtered.filter(isEventOnly).map(\.name).sorted().first {
                return "Session metric `\(metric.rawValue)` cannot be queried when using a filter on `\(property)`."
            }
            return nil
        }
        // v2: bounce_rate, visit_duration and views_per_visit are refused with event dimensions but event:page.
        guard [.bounceRate, .visitDuration, .viewsPerVisit].contains(metric) else { return nil }
        if dimensions.contains(where: { $0.isEventScoped && $0 != .page }) {
            return "Session metric(s) `\(metric.rawValue)` cannot be queried along with event dimensions."
        }
        return nil
    }

    /// `event:name` and `event:props:*`: properties of single events that no visit has.
    private static func isEventOnly(_ property: Property) -> Bool {
        switch property {
        case .name, .prop: true
        default: false
        }
    }

    /// `text` in double quotes for an error message (see `printable`).
    static func quoted(_ text: String) -> String {
        "\"" + printable(text) + "\""
    }

    /// `text` for an error message: at most 64 characters, quotes, backslashes and control
    /// characters escaped (the answer is JSON, but a message may end up in a log or a terminal).
    static func printable(_ text: String) -> String {
        let short = text.count > 64 ? String(text.prefix(64)) + "…" : text
        var out = ""
        for scalar in short.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension Filter {
    /// Every property a condition of the filter reads, at any depth.
    var properties: Set<Property> {
        switch self {
        case .condition(let property, _, _): [property]
        case .and(let parts), .or(let parts): parts.reduce(into: Set()) { $0.formUnion($1.properties) }
        case .not(let inner): inner.properties
        }
    }
}
