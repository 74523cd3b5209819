import Logging

/// The one query engine behind `/stats`, the Stats API v1 and v2: answers a `StatsRequest`
/// from hourly rollups where it can and from raw events where it must, with the same numbers
/// either way (both go through `Aggregator`).
///
/// - An unfiltered question grouped by at most one property and one time interval (hour or
///   longer) reads one stored rollup per whole hour of the period: its cost follows the
///   number of hours, not of events. Parts of hours at the edges, hours not aligned with the
///   site's buckets, the last 90 minutes (still changing) and hours too varied to keep are
///   aggregated from raw events.
/// - A rollup is used only when it was built from the generation its hour has now; writers
///   of events bump the generation after storing them (`MongoStore.invalidateRollups`), so a
///   stale rollup is never read. A missing or stale one is built from raw events on the way
///   and stored for the next reader.
/// - Anything else (filters, two properties, minutes) is aggregated from raw events.
public struct QueryEngine: Sendable {
    let store: MongoStore
    let raw: RawVisits
    let maxTime: Duration
    /// How long one request may spend building missing rollups before it is refused.
    let buildBudget: Duration
    let now: @Sendable () -> Int64
    let logger: Logger

    /// Hours built in one pass over raw events: bounds the memory a build holds.
    static let buildRunHours = 24

    /// An engine over `store`; a raw aggregation reads at most `maxRawEvents` events, each
    /// MongoDB query runs at most `maxTime`, one request builds rollups for at most
    /// `buildBudget`; `now` is injectable for tests.
    public init(
        store: MongoStore, maxRawEvents: Int = 2_000_000, maxTime: Duration = .seconds(30), buildBudget: Duration = .seconds(20),
        logger: Logger, now: @escaping @Sendable () -> Int64 = { Timestamp.nowMillis() }
    ) {
        self.store = store
        self.raw = RawVisits(store: store, maxEvents: maxRawEvents, maxTime: maxTime)
        self.maxTime = maxTime
        self.buildBudget = buildBudget
        self.now = now
        self.logger = logger
    }

    /// Answers `request`: one cell per group. Throws `QueryError` for a question it will not
    /// answer, `MongoError` when the store fails.
    public func run(_ request: StatsRequest) async throws -> StatsResult {
        var cells: [[DimensionValue]: Cell] = [:]
        var plan = QueryPlanStats()
        let range = request.range
        guard range.end > range.start else { return StatsResult(rows: [], plan: plan) }
        let aggregator = Aggregator(dimensions: request.dimensions, filter: request.filter, calendar: request.calendar, identity: request.identity)
        guard let layout = RollupLayout(request) else {
            plan.rawEvents = try await addRaw([range], siteID: request.siteID, aggregator: aggregator, into: &cells)
            return StatsResult(folding: cells, plan: plan)
        }
        let firstHour = MongoStore.hour(of: range.start + MongoStore.hourMillis - 1)
        let endHour = MongoStore.hour(of: range.end)
        var rawRanges: [TimeRange] = []
        if firstHour >= endHour {
            rawRanges.append(range)
        } else {
            if range.start < firstHour { rawRanges.append(TimeRange(start: range.start, end: firstHour)) }
            if endHour < range.end { rawRanges.append(TimeRange(start: endHour, end: range.end)) }
            let hotFrom = MongoStore.hour(of: now() - MongoStore.hourMillis - VisitTracker.sessionTimeoutMillis)
            let deadline = ContinuousClock.now + buildBudget
            var gathered = RollupCells()
            var windowStart = firstHour
            while windowStart < endHour {
                let window = TimeRange(start: windowStart, end: min(endHour, windowStart + Self.readWindowHours * MongoStore.hourMillis))
                try await addHours(
                    window, request: request, layout: layout, hotFrom: hotFrom, deadline: deadline, plan: &plan, cells: &gathered, raw: &rawRanges)
                windowStart = window.end
            }
            layout.drain(gathered, into: &cells)
        }
        plan.rawEvents += try await addRaw(Self.merged(rawRanges), siteID: request.siteID, aggregator: aggregator, into: &cells)
        return StatsResult(folding: cells, plan: plan)
    }

    /// Hours read from stored rollups at a time: bounds the memory one request holds.
    static let readWindowHours: Int64 = 7 * 24

    /// Adds the whole hours of `window` from their rollups, building missing or stale ones
    /// (until `deadline`); hours that must be read raw are appended to `raw`.
    private func addHours(
        _ window: TimeRange, request: StatsRequest, layout: RollupLayout, hotFrom: Int64, deadline: ContinuousClock.Instant,
        plan: inout QueryPlanStats, cells: inout RollupCells, raw rawRanges: inout [TimeRange]
    ) async throws {
        // Generations first, then events: a write after this read makes what is built stale.
        // Data only for the window's hours an answer can take from a rollup (not the hot ones).
        let stored = try await store.readRollups(
            siteID: request.siteID, start: window.start, end: window.end + Self.dependencySpan, dataBefore: min(window.end, hotFrom),
            field: layout.field, maxTime: maxTime)
        let byHour = Dictionary(stored.map { ($0.hour, $0) }, uniquingKeysWith: { first, _ in first })
        let generations = byHour.mapValues(\.generation)
        var toBuild: [Int64] = []
        for hour in stride(from: window.start, to: window.end, by: Int(MongoStore.hourMillis)) {
            let entry = byHour[hour]
            if entry == nil, hour < hotFrom {
                // No event was ever stored in or half an hour before this hour: writers create
                // the hour's document before acknowledging any (see `MongoStore.insert`).
                plan.emptyHours += 1
            } else if !layout.fitsBuckets(hour, request.calendar) || hour >= hotFrom || (entry?.tooVaried == true && entry?.built == entry?.generation) {
                rawRanges.append(TimeRange(start: hour, end: hour + MongoStore.hourMillis))
            } else if let entry, entry.isCurrent, Self.dependenciesHold(entry, generations), let data = entry.data,
                try layout.add(data, hour: hour, calendar: request.calendar, into: &cells)
            {
                plan.rollupHours += 1
            } else {
                toBuild.append(hour)
            }
        }
        for run in Self.runs(toBuild, maxLength: Self.buildRunHours) {
            guard ContinuousClock.now < deadline else {
                throw QueryError(
                    "building this period's rollups takes longer than \(buildBudget): ask again (what is built is kept), "
                        + "or build them ahead with `Worker rollups rebuild --site \(request.siteID)`",
                    retryable: true)
            }
            let built = try await build(siteID: request.siteID, hours: run, generations: generations)
            plan.rawEvents += built.eventsRead
            for (hour, rollup, dependencies) in built.rollups {
                try await store.writeRollup(siteID: request.siteID, rollup, hour: hour, generation: generations[hour] ?? 0, dependencies: dependencies)
                plan.rebuiltHours += 1
                if let rollup {
                    try layout.add(rollup, calendar: request.calendar, into: &cells)
                } else {
                    rawRanges.append(TimeRange(start: hour, end: hour + MongoStore.hourMillis))
                }
            }
        }
    }

    /// The instant of the site's earliest stored event; nil when it has none.
    public func firstEventTime(siteID: String) async throws -> Int64? {
        try await store.find(
            filterJSON: #"{"site_id": \#(JSONValue.string(siteID).serialized)}"#, fields: ["timestamp"], sortJSON: #"{"timestamp": 1}"#,
            limit: 1, maxTime: maxTime
        ) { EventRow($0).timestamp }.first
    }

    /// Distinct visitors with an event in the last five minutes (Plausible's realtime count).
    public func realtimeVisitors(siteID: String, now: Int64) async throws -> Int {
        let site = JSONValue.string(siteID).serialized
        let visitors = try await store.find(
            filterJSON: #"{"site_id": \#(site), "timestamp": \#(RawVisits.between(now - 300_000, now + 60_000))}"#,
            fields: ["visitor_id", "session_id"], limit: 1_000_000, maxTime: maxTime
        ) { document in
            let row = EventRow(document)
            return row.visitorID ?? row.sessionID
        }
        return Set(visitors).count
    }

    /// Marks stale and builds again the rollups of `siteID` over `range` from raw events; returns
    /// the hours built. Safe while workers write: a generation bumped meanwhile makes the
    /// new rollup stale, never wrong.
    public func rebuild(siteID: String, range: TimeRange) async throws -> Int {
        let start = MongoStore.hour(of: range.start), end = MongoStore.hour(of: range.end + MongoStore.hourMillis - 1)
        try await store.staleRollups(siteID: siteID, start: start, end: end)
        let hotFrom = MongoStore.hour(of: now() - MongoStore.hourMillis - VisitTracker.sessionTimeoutMillis)
        var count = 0
        var runStart = start
        while runStart < min(end, hotFrom) {
            let runEnd = min(runStart + Int64(Self.buildRunHours) * MongoStore.hourMillis, min(end, hotFrom))
            let hours = Array(stride(from: runStart, to: runEnd, by: Int(MongoStore.hourMillis)))
            // Generations first, then events: a write after this read makes what is built stale.
            let stored = try await store.readRollups(siteID: siteID, start: runStart, end: runEnd + Self.dependencySpan, field: nil, maxTime: maxTime)
            let generations = Dictionary(stored.map { ($0.hour, $0.generation) }, uniquingKeysWith: { first, _ in first })
            let built = try await build(siteID: siteID, hours: hours, generations: generations)
            let known = Set(stored.map(\.hour))
            for (hour, rollup, dependencies) in built.rollups {
                // An hour with no document and nothing built stays without one (it reads as empty).
                if !known.contains(hour), let rollup, rollup.totals == Cell() { continue }
                try await store.writeRollup(siteID: siteID, rollup, hour: hour, generation: generations[hour] ?? 0, dependencies: dependencies)
                count += 1
            }
            runStart = runEnd
        }
        return count
    }

    /// Aggregates `ranges` from raw events into `cells`; returns the events read.
    private func addRaw(_ ranges: [TimeRange], siteID: String, aggregator: Aggregator, into cells: inout [[DimensionValue]: Cell]) async throws -> Int {
        var read = 0
        let deadline = ContinuousClock.now + maxTime
        for range in ranges {
            let visits = try await raw.read(siteID: siteID, range: range, wholeEarlier: aggregator.filter?.readsVisit ?? false)
            read += visits.eventsRead
            try aggregator.add(visits.visits, range: range, into: &cells, deadline: deadline)
        }
        return read
    }

    /// Builds the rollups of consecutive `hours` from one read of raw events, each with the
    /// generations (read before the events) of the later hours its visits reach. An hour whose
    /// visits go on past `dependencySpan` is not kept (nil): it is aggregated raw when asked.
    private func build(siteID: String, hours: [Int64], generations: [Int64: Int64]) async throws
        -> (rollups: [(Int64, HourRollup?, [Int64])], eventsRead: Int)
    {
        do {
            return try await buildRun(siteID: siteID, hours: hours, generations: generations)
        } catch let error as QueryError where error.isTooManyEvents && hours.count > 1 {
            // A day too busy for one read: its halves, down to single hours.
            let first = try await build(siteID: siteID, hours: Array(hours.prefix(hours.count / 2)), generations: generations)
            let second = try await build(siteID: siteID, hours: Array(hours.dropFirst(hours.count / 2)), generations: generations)
            return (first.rollups + second.rollups, first.eventsRead + second.eventsRead)
        }
    }

    /// `build` in one read of raw events.
    private func buildRun(siteID: String, hours: [Int64], generations: [Int64: Int64]) async throws
        -> (rollups: [(Int64, HourRollup?, [Int64])], eventsRead: Int)
    {
        guard let first = hours.first, let last = hours.last else { return ([], 0) }
        let range = TimeRange(start: first, end: last + MongoStore.hourMillis)
        let read = try await raw.read(siteID: siteID, range: range, wholeEarlier: false)
        var byHour: [Int64: [Visit]] = [:]
        var reach: [Int64: Int64] = [:]
        for visit in read.visits {
            var touched = Set<Int64>()
            for event in visit.session.events where range.contains(event.timestamp) { touched.insert(MongoStore.hour(of: event.timestamp)) }
            if !visit.startsBefore, range.contains(visit.session.start) {
                let hour = MongoStore.hour(of: visit.session.start)
                touched.insert(hour)
                reach[hour] = max(reach[hour] ?? hour, visit.session.end)
            }
            for hour in touched {
                byHour[hour, default: []].append(Visit(session: visit.session, startsBefore: visit.startsBefore || visit.session.start < hour))
            }
        }
        var rollups: [(Int64, HourRollup?, [Int64])] = []
        for hour in hours {
            let until = MongoStore.hour(of: (reach[hour] ?? hour) + VisitTracker.sessionTimeoutMillis)
            guard until < hour + Self.dependencySpan else {
                rollups.append((hour, nil, []))
                continue
            }
            let dependencies = stride(from: hour + MongoStore.hourMillis, through: until, by: Int(MongoStore.hourMillis)).map { generations[$0] ?? 0 }
            rollups.append((hour, try HourRollup.build(hour: hour, visits: byHour[hour] ?? []), dependencies))
        }
        return (rollups, read.eventsRead)
    }

    /// How far past its hour a rollup may depend on later hours (visits going on): 6 hours.
    static let dependencySpan: Int64 = 6 * MongoStore.hourMillis

    /// True when every later hour the rollup depends on has the generation it was built with.
    static func dependenciesHold(_ entry: StoredHour, _ generations: [Int64: Int64]) -> Bool {
        for (index, generation) in entry.dependencies.enumerated()
        where generations[entry.hour + Int64(index + 1) * MongoStore.hourMillis] ?? 0 != generation {
            return false
        }
        return true
    }

    /// Consecutive hours grouped into runs of at most `maxLength`.
    static func runs(_ hours: [Int64], maxLength: Int) -> [[Int64]] {
        var runs: [[Int64]] = []
        for hour in hours.sorted() {
            if let last = runs.last?.last, last + MongoStore.hourMillis == hour, let count = runs.last?.count, count < maxLength {
                runs[runs.count - 1].append(hour)
            } else {
                runs.append([hour])
            }
        }
        return runs
    }

    /// Adjacent ranges joined, so a raw read covers each stretch once.
    static func merged(_ ranges: [TimeRange]) -> [TimeRange] {
        var result: [TimeRange] = []
        for range in ranges.sorted(by: { $0.start < $1.start }) {
            if let last = result.last, last.end == range.start {
                result[result.count - 1].end = range.end
            } else {
                result.append(range)
            }
        }
        return result
    }
}

extension StatsResult {
    /// The rows of `cells`, each sketch's pending visitors folded once here, so counting them
    /// (sorting rows, rendering them) never folds a copy again.
    init(folding cells: [[DimensionValue]: Cell], plan: QueryPlanStats) {
        var cells = cells
        for index in cells.values.indices { cells.values[index].visitors.fold() }
        self.init(rows: cells.map { ($0.key, $0.value) }, plan: plan)
    }
}
