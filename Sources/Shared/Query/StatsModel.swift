/// A metric of the Stats API (Plausible's metric definitions).
public enum Metric: String, Sendable, Hashable, CaseIterable {
    /// Distinct visitors with an event in the period.
    case visitors
    /// Visits (sessions) that started in the period.
    case visits
    /// Page views in the period (a throttled summary counts for every event it stands for).
    case pageviews
    /// Page views per visit, two decimals.
    case viewsPerVisit = "views_per_visit"
    /// Percentage of visits with a single event, a page view, rounded.
    case bounceRate = "bounce_rate"
    /// Mean time from a visit's first event to its last, whole seconds.
    case visitDuration = "visit_duration"
    /// Events of any kind in the period.
    case events
}

/// A property events can be grouped or filtered by: `event:*` properties belong to each event,
/// `visit:*` ones to the visit (session) the event is part of.
public enum Property: Sendable, Hashable {
    /// `event:page`: the page path.
    case page
    /// `event:name`: `pageview` or the custom event's name.
    case name
    /// `event:hostname`.
    case hostname
    /// `event:props:<key>`: a custom property (`(none)` when the event lacks it).
    case prop(String)
    /// `visit:entry_page`: the path of the visit's first page view.
    case entryPage
    /// `visit:exit_page`: the path of the visit's last page view.
    case exitPage
    /// `visit:*` attributes fixed by the visit's first event.
    case source, referrer, utmMedium, utmSource, utmCampaign, utmContent, utmTerm
    /// `visit:*` attributes of the visitor's browser and place.
    case device, browser, browserVersion, os, osVersion, country

    /// Every property without a parameter, in a stable order (rollups keep one table each).
    public static let fixed: [Property] = [
        .page, .name, .hostname, .entryPage, .exitPage, .source, .referrer, .utmMedium, .utmSource, .utmCampaign, .utmContent,
        .utmTerm, .device, .browser, .browserVersion, .os, .osVersion, .country,
    ]

    /// Parses Plausible's name (`event:page`, `visit:source`, `event:props:plan`); nil for anything else.
    public init?(_ text: String) {
        if text.hasPrefix("event:props:") {
            let key = String(text.dropFirst("event:props:".count))
            guard !key.isEmpty, key.utf8.count <= 300 else { return nil }
            self = .prop(key)
            return
        }
        guard let match = Self.fixed.first(where: { $0.name == text }) else { return nil }
        self = match
    }

    /// Plausible's name for the property.
    public var name: String {
        switch self {
        case .page: "event:page"
        case .name: "event:name"
        case .hostname: "event:hostname"
        case .prop(let key): "event:props:" + key
        case .entryPage: "visit:entry_page"
        case .exitPage: "visit:exit_page"
        case .source: "visit:source"
        case .referrer: "visit:referrer"
        case .utmMedium: "visit:utm_medium"
        case .utmSource: "visit:utm_source"
        case .utmCampaign: "visit:utm_campaign"
        case .utmContent: "visit:utm_content"
        case .utmTerm: "visit:utm_term"
        case .device: "visit:device"
        case .browser: "visit:browser"
        case .browserVersion: "visit:browser_version"
        case .os: "visit:os"
        case .osVersion: "visit:os_version"
        case .country: "visit:country"
        }
    }

    /// True for the properties holding a page path: an event or visit without one has no
    /// group under them (rather than a group named "").
    public var isPage: Bool { self == .page || self == .entryPage || self == .exitPage }

    /// True for `event:*` properties: each event of a visit may have its own value.
    public var isEventScoped: Bool {
        switch self {
        case .page, .name, .hostname, .prop: true
        default: false
        }
    }
}

/// How a filter compares a property with its values. Values are data: they are compared in
/// Swift or quoted into a query, never read as operators or patterns of a backtracking engine.
public enum FilterOperator: String, Sendable, Hashable {
    /// Equal to one of the values.
    case `is`
    /// Equal to none of the values.
    case isNot = "is_not"
    /// Contains one of the values (case-sensitive substring).
    case contains
    /// Contains none of the values.
    case containsNot = "contains_not"
    /// Matches one of the glob patterns (`*` any run of characters but `/`, `**` any run).
    case wildcard
    /// Matches none of the glob patterns.
    case wildcardNot = "wildcard_not"
}

/// A filter: conditions combined with and, or and not.
public indirect enum Filter: Sendable, Hashable {
    /// One property compared with values.
    case condition(Property, FilterOperator, [String])
    /// Every filter holds.
    case and([Filter])
    /// At least one filter holds.
    case or([Filter])
    /// The filter does not hold.
    case not(Filter)

    /// Conditions at most this deep, and at most this many in all: a filter is client input.
    public static let maxDepth = 8, maxConditions = 64

    /// The number of conditions and the depth, to bound a client's filter.
    public var size: (conditions: Int, depth: Int) {
        switch self {
        case .condition: (1, 1)
        case .and(let parts), .or(let parts):
            parts.reduce((0, 1)) { total, part in
                let size = part.size
                return (total.0 + size.conditions, max(total.1, size.depth + 1))
            }
        case .not(let inner): (inner.size.conditions, inner.size.depth + 1)
        }
    }
}

/// What a result row is grouped by.
public enum Dimension: Sendable, Hashable {
    /// A property's value.
    case property(Property)
    /// The time bucket, in the site's time zone.
    case time(StatsInterval)
}

/// One question for the query engine: a site, a period, how to group, what to keep. Every front
/// end (seed 004's `/stats`, Stats API v1, v2) translates its parameters into this.
public struct StatsRequest: Sendable {
    /// The site.
    public var siteID: String
    /// The site's calendar, for time buckets.
    public var calendar: SiteCalendar
    /// The period, `[start, end)` in Unix milliseconds.
    public var range: TimeRange
    /// Grouping; empty for one total row.
    public var dimensions: [Dimension]
    /// Which events and visits count; nil for all.
    public var filter: Filter?
    /// Whom `visitors` counts: visitors, or (seed 004's `unique_users`) distinct user ids.
    public var identity: Identity

    /// A request from its parts.
    public init(
        siteID: String, calendar: SiteCalendar, range: TimeRange, dimensions: [Dimension] = [], filter: Filter? = nil, identity: Identity = .visitor
    ) {
        self.siteID = siteID
        self.calendar = calendar
        self.range = range
        self.dimensions = dimensions
        self.filter = filter
        self.identity = identity
    }

    /// Whom a request counts as distinct people.
    public enum Identity: Sendable, Hashable {
        /// `visitor_id`: cookieless visitors (or a user id standing in for one).
        case visitor
        /// Distinct non-empty `userid`s; events without one count for no one.
        case user
    }
}

/// The additive state behind every metric of one group: counts add, visitor sketches merge.
public struct Cell: Sendable, Equatable {
    /// Distinct visitors.
    public var visitors = VisitorSketch()
    /// Visits started.
    public var visits = 0
    /// Page views.
    public var pageviews = 0
    /// Events of any kind.
    public var events = 0
    /// Visits that bounced.
    public var bounces = 0
    /// Sum of the visits' durations, milliseconds.
    public var durationMillis: Int64 = 0

    /// An empty cell.
    public init() {}

    /// Adds `other` to this cell.
    public mutating func merge(_ other: Cell) {
        visitors.merge(other.visitors)
        add(visits: other.visits, pageviews: other.pageviews, events: other.events, bounces: other.bounces, durationMillis: other.durationMillis)
    }

    /// The largest count one stored event or stored cell may carry: far above any real one.
    /// Larger stored values are refused (cells) or capped (events).
    static let maxCounter = 1 << 40

    /// Adds counters, saturating: stored data summed over a long period must never trap.
    mutating func add(visits: Int, pageviews: Int, events: Int, bounces: Int, durationMillis: Int64) {
        func sum<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
            let (result, overflow) = a.addingReportingOverflow(b)
            return overflow ? (b > 0 ? .max : .min) : result
        }
        self.visits = sum(self.visits, visits)
        self.pageviews = sum(self.pageviews, pageviews)
        self.events = sum(self.events, events)
        self.bounces = sum(self.bounces, bounces)
        self.durationMillis = sum(self.durationMillis, durationMillis)
    }

    /// True for a cell without events or visits (an hour's empty totals): it makes no group.
    static func isEmpty(events: Int, visits: Int) -> Bool { events == 0 && visits == 0 }

    /// The value of `metric` (nil where it is undefined: rates of no visits are 0 as Plausible answers).
    public func value(_ metric: Metric) -> Double {
        switch metric {
        case .visitors: Double(visitors.count)
        case .visits: Double(visits)
        case .pageviews: Double(pageviews)
        case .events: Double(events)
        case .viewsPerVisit: visits == 0 ? 0 : (Double(pageviews) / Double(visits) * 100).rounded() / 100
        case .bounceRate: visits == 0 ? 0 : (Double(bounces) / Double(visits) * 100).rounded()
        case .visitDuration: visits == 0 ? 0 : (Double(durationMillis) / 1000 / Double(visits)).rounded()
        }
    }
}

/// One value of a dimension in a result row.
public enum DimensionValue: Sendable, Hashable {
    /// A property's value.
    case text(String)
    /// A time bucket's start, Unix milliseconds.
    case time(Int64)
}

/// The engine's answer: one cell per group, in no particular order (front ends sort and page).
public struct StatsResult: Sendable {
    /// Groups and their cells; one row with no dimension values when the request had none.
    public var rows: [(key: [DimensionValue], cell: Cell)]
    /// How the answer was computed, for logs and the bench: hours read from rollups, hours
    /// aggregated from raw events, raw events read.
    public var plan: QueryPlanStats
}

/// What a query cost, reported with its answer.
public struct QueryPlanStats: Sendable, Equatable {
    /// Hours answered from stored rollups.
    public var rollupHours = 0
    /// Hours (or parts) aggregated from raw events and stored as rollups on the way.
    public var rebuiltHours = 0
    /// Raw events read.
    public var rawEvents = 0
    /// Whole hours skipped because no event was ever stored in them.
    public var emptyHours = 0
    /// An empty report.
    public init() {}
}

/// A query the engine refuses; the message says what to change.
public struct QueryError: Error, Sendable, Equatable {
    /// What is wrong, for the client.
    public var message: String
    /// True when asking again later can succeed (work done so far is kept): a 503, not a 400.
    public var isRetryable: Bool
    /// True when a raw read held more events than one query may: a shorter span may pass.
    public var isTooManyEvents: Bool
    /// An error with its message.
    public init(_ message: String, retryable: Bool = false, tooManyEvents: Bool = false) {
        self.message = message
        self.isRetryable = retryable
        self.isTooManyEvents = tooManyEvents
    }
}
