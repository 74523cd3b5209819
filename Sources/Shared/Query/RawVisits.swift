/// Reads the visits behind a period from raw events: the events inside it, the rest of every
/// visit that starts inside it (however long it goes on), and which visits began before it.
struct RawVisits: Sendable {
    let store: MongoStore
    /// Most raw events one query may read; past it the query is refused with advice.
    let maxEvents: Int
    /// How long the server may spend on each query.
    let maxTime: Duration

    /// Visits touching `range` for `siteID`. With `wholeEarlier`, visits that began before
    /// the period are read whole too (a filter on `visit:*` properties needs their first event).
    func read(siteID: String, range: TimeRange, wholeEarlier: Bool) async throws -> (visits: [Visit], eventsRead: Int) {
        let site = JSONValue.string(siteID).serialized
        let inRange = try await store.find(
            filterJSON: #"{"site_id": \#(site), "timestamp": \#(Self.between(range.start, range.end))}"#,
            fields: EventRow.fields, limit: maxEvents + 1, maxTime: maxTime
        ) { EventRow($0) }
        guard inRange.count <= maxEvents else {
            throw QueryError("the period holds more than \(maxEvents) events to aggregate one by one: narrow the period or drop the filter", tooManyEvents: true)
        }
        let lookback = range.start - VisitTracker.sessionTimeoutMillis
        let before = Set(
            try await store.find(
                filterJSON: #"{"site_id": \#(site), "timestamp": \#(Self.between(lookback, range.start)), "session_id": {"$exists": true}}"#,
                fields: ["session_id"], maxTime: maxTime
            ) { document in document.first { $0.key == "session_id" }?.value.int })

        var bySession: [Int64: [EventRow]] = [:]
        var loose: [EventRow] = []
        for event in inRange {
            if let id = event.sessionID { bySession[id, default: []].append(event) } else { loose.append(event) }
        }
        // Visits that start here and were still going within half an hour of the end may go on.
        let openAtEnd = range.end - VisitTracker.sessionTimeoutMillis
        let open = bySession.compactMap { id, events in
            !before.contains(id) && events.contains { $0.timestamp >= openAtEnd } ? id : nil
        }
        var read = inRange.count
        read += try await follow(site: site, sessions: Set(open), from: range.end, forward: true, into: &bySession)
        if wholeEarlier {
            read += try await follow(site: site, sessions: Set(bySession.keys.filter(before.contains)), from: range.start, forward: false, into: &bySession)
        }
        var visits = bySession.map { id, events in Visit(session: Session(events: events), startsBefore: before.contains(id)) }
        // An event stored before visits existed is a visit of its own.
        visits += loose.map { Visit(session: Session(events: [$0]), startsBefore: false) }
        return (visits, read)
    }

    /// Reads the rest of `sessions` beyond `from` (after it, or before it when not `forward`)
    /// in six-hour windows of the (site, timestamp) index, while some visit is still going on
    /// at the window's far edge; adds their events to `bySession`. Returns the events kept.
    /// (Asking by `session_id $in` would be one query, but nx-27017 answers `$in` by scanning.)
    private func follow(site: String, sessions: Set<Int64>, from: Int64, forward: Bool, into bySession: inout [Int64: [EventRow]]) async throws -> Int {
        var open = sessions
        var edge = from
        var kept = 0
        let step: Int64 = 6 * 3_600_000
        var windows = 0
        // A visit kept going for days (an auto-refreshing page) would make every read of its
        // start follow it through all the site's later events: it is followed a week at most.
        while !open.isEmpty, windows < Self.maxFollowWindows {
            windows += 1
            let wanted = open
            let window = forward ? TimeRange(start: edge, end: edge + step) : TimeRange(start: edge - step, end: edge)
            let rows = try await store.find(
                filterJSON: #"{"site_id": \#(site), "timestamp": \#(Self.between(window.start, window.end))}"#,
                fields: EventRow.fields, maxTime: maxTime
            ) { row -> EventRow? in
                let event = EventRow(row)
                return event.sessionID.map(wanted.contains) == true ? event : nil
            }
            var still = Set<Int64>()
            for event in rows {
                guard let id = event.sessionID else { continue }
                bySession[id, default: []].append(event)
                let nearEdge = forward ? event.timestamp >= window.end - VisitTracker.sessionTimeoutMillis : event.timestamp < window.start + VisitTracker.sessionTimeoutMillis
                if nearEdge { still.insert(id) }
            }
            kept += rows.count
            guard kept <= maxEvents else { throw QueryError("the period's visits hold more than \(maxEvents) events: narrow the period", tooManyEvents: true) }
            open = still
            edge = forward ? window.end : window.start
        }
        return kept
    }

    /// Six-hour windows a visit is followed through at most: a week.
    static let maxFollowWindows = 28

    /// Extended JSON for a BSON date.
    static func date(_ millis: Int64) -> String { RawEventFetch.date(millis) }

    /// Extended JSON for `[start, end)` on a date field.
    static func between(_ start: Int64, _ end: Int64) -> String { #"{"$gte": \#(date(start)), "$lt": \#(date(end))}"# }
}
