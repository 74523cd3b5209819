/// The one place metrics are defined: turns visits (with all their events) into cells grouped
/// by dimension values, for a period `[start, end)`.
///
/// - Event metrics (`pageviews`, `events`, `visitors`) count the events inside the period,
///   grouped by the event's own value (`event:*`) or its time bucket.
/// - Visit metrics (`visits`, `bounce_rate`, `visit_duration`) count the visits that *start*
///   inside the period, whole (events after the period included); an `event:*` grouping puts
///   a visit under each value its events have, a time grouping under its first event's bucket.
/// - Grouped by `visit:*` properties only, every metric counts the visits that start in the period
///   (visitors of those visits, their page views and events), as Plausible's sessions table does.
///
/// Because a visit counts only where it starts and an event only where it happens, cells of
/// adjacent periods add up to the cells of their union; that is what lets hourly rollups stand
/// in for raw events.
public struct Aggregator: Sendable {
    /// How rows are grouped.
    public var dimensions: [Dimension]
    /// Which events and visits count; nil for all.
    public var filter: Filter?
    /// Time buckets are cut in this calendar.
    public var calendar: SiteCalendar
    /// Whom `visitors` counts.
    public var identity: StatsRequest.Identity

    /// An aggregator for one request's grouping and filter.
    public init(dimensions: [Dimension], filter: Filter?, calendar: SiteCalendar, identity: StatsRequest.Identity = .visitor) {
        self.dimensions = dimensions
        self.filter = filter
        self.calendar = calendar
        self.identity = identity
    }

    /// Most groups one answer may hold: a client cannot make the engine hold a million cells.
    public static let maxGroups = 200_000

    /// Adds the visits' contributions inside `range` to `cells`. A visit whose `startsBefore`
    /// is set began before `range` (its earlier events were not read). Past `deadline` (checked
    /// every 256 visits) it throws: filters over many events can cost more CPU than a request
    /// may hold.
    public func add(
        _ visits: [Visit], range: TimeRange, into cells: inout [[DimensionValue]: Cell], deadline: ContinuousClock.Instant? = nil
    ) throws(QueryError) {
        // The visit is the unit only when every property grouped by is the visit's own; mixed
        // with `event:*` properties, events are grouped by their own values and their visit's.
        let properties = dimensions.compactMap { if case .property(let property) = $0 { property } else { nil } }
        let byVisit = !properties.isEmpty && properties.allSatisfy { !$0.isEventScoped }
        for (index, visit) in visits.enumerated() {
            if index & 255 == 255, let deadline, ContinuousClock.now > deadline {
                throw QueryError(
                    "aggregating this period's events one by one takes too long: retry later, narrow the period, or use fewer or simpler filters",
                    retryable: true)
            }
            let session = visit.session
            let starts = !visit.startsBefore && range.contains(session.start)
            let visitPasses = starts && (filter?.matches(session) ?? true)
            if byVisit {
                guard visitPasses, let key = visitKey(session) else { continue }
                try update(&cells, key) { cell in
                    if let person = person(session.events.first, session) { cell.visitors.insert(person) }
                    cell.visits += 1
                    cell.pageviews += session.pageviews
                    cell.events += session.eventCount
                    if session.isBounce { cell.bounces += 1 }
                    cell.durationMillis += session.duration
                }
                continue
            }
            for event in session.events where range.contains(event.timestamp) {
                guard filter?.matches(event, in: session) ?? true, let key = eventKey(event, in: session, bucketOf: event.timestamp) else { continue }
                try update(&cells, key) { cell in
                    if let person = person(event, session) { cell.visitors.insert(person) }
                    cell.events += event.count
                    if event.isPageview { cell.pageviews += event.count }
                }
            }
            guard visitPasses else { continue }
            for key in sessionKeys(session) {
                try update(&cells, key) { cell in
                    cell.visits += 1
                    if session.isBounce { cell.bounces += 1 }
                    cell.durationMillis += session.duration
                }
            }
        }
    }

    /// Who an event counts as: its visitor, or its user.
    private func person(_ event: EventRow?, _ session: Session) -> Int64? {
        switch identity {
        case .visitor: event?.visitorID ?? session.visitorID
        case .user: event?.userKey
        }
    }

    private func update(_ cells: inout [[DimensionValue]: Cell], _ key: [DimensionValue], _ body: (inout Cell) -> Void) throws(QueryError) {
        if cells[key] == nil, cells.count >= Self.maxGroups {
            throw QueryError("more than \(Self.maxGroups) groups: narrow the period, add a filter, or group by fewer dimensions")
        }
        body(&cells[key, default: Cell()])
    }

    /// The group of an event: the bucket of `bucketOf`, its own `event:*` values and its visit's
    /// `visit:*` ones; nil for an event without a page grouped by page (a custom event sent
    /// without a path is on no page).
    private func eventKey(_ event: EventRow, in session: Session, bucketOf instant: Int64) -> [DimensionValue]? {
        var key: [DimensionValue] = []
        for dimension in dimensions {
            switch dimension {
            case .time(let interval): key.append(.time(calendar.bucketStart(of: instant, interval: interval)))
            case .property(let property):
                let value = property.isEventScoped ? event.value(of: property) : session.value(of: property)
                if value.isEmpty && property.isPage { return nil }
                key.append(.text(value))
            }
        }
        return key
    }

    /// The group of a visit under `visit:*` grouping: its start bucket and its values; nil
    /// for a visit without page views grouped by entry or exit page.
    private func visitKey(_ session: Session) -> [DimensionValue]? {
        var key: [DimensionValue] = []
        for dimension in dimensions {
            switch dimension {
            case .time(let interval): key.append(.time(calendar.bucketStart(of: session.start, interval: interval)))
            case .property(let property):
                let value = session.value(of: property)
                if value.isEmpty && property.isPage { return nil }
                key.append(.text(value))
            }
        }
        return key
    }

    /// The groups a visit counts in under event grouping: those of its (filtered) events, each
    /// event's own values with the visit's start bucket. A visit on `/a` then `/b` counts once
    /// under each page, and never under a combination no one of its events has.
    private func sessionKeys(_ session: Session) -> Set<[DimensionValue]> {
        var keys = Set<[DimensionValue]>()
        for event in session.events where filter?.matches(event, in: session) ?? true {
            if let key = eventKey(event, in: session, bucketOf: session.start) { keys.insert(key) }
        }
        return keys
    }
}

/// A visit as a query read it: all its events from the period on, and whether it began before.
public struct Visit: Sendable {
    /// The visit's events that were read.
    public var session: Session
    /// True when the visit had an event in the half hour before the period: it began earlier.
    public var startsBefore: Bool

    /// A visit from its parts.
    public init(session: Session, startsBefore: Bool) {
        self.session = session
        self.startsBefore = startsBefore
    }
}

extension TimeRange {
    /// Whether `millis` falls in `[start, end)`.
    public func contains(_ millis: Int64) -> Bool { millis >= start && millis < end }
}
