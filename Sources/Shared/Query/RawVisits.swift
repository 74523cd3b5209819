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
            throw QueryError("the period holds more than \(maxEvents) events to aggregate one by one: narrow the period or drop the filter")
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
        for event in try await events(siteID: site, sessions: open, timestamp: #"{"$gte": \#(Self.date(range.end))}"#) {
            if let id = event.sessionID { bySession[id, default: []].append(event) }
            read += 1
        }
        if wholeEarlier {
            let earlier = bySession.keys.filter(before.contains)
            for event in try await events(siteID: site, sessions: earlier, timestamp: #"{"$lt": \#(Self.date(range.start))}"#) {
                if let id = event.sessionID { bySession[id, default: []].append(event) }
                read += 1
            }
        }
        var visits = bySession.map { id, events in Visit(session: Session(events: events), startsBefore: before.contains(id)) }
        // An event stored before visits existed is a visit of its own.
        visits += loose.map { Visit(session: Session(events: [$0]), startsBefore: false) }
        return (visits, read)
    }

    /// The events of `sessions` whose timestamp passes `timestamp`, asked in chunks.
    private func events(siteID site: String, sessions: [Int64], timestamp: String) async throws -> [EventRow] {
        var rows: [EventRow] = []
        var start = 0
        while start < sessions.count {
            let chunk = sessions[start..<min(start + 500, sessions.count)]
            start += 500
            let ids = chunk.map { #"{"$numberLong": "\#($0)"}"# }.joined(separator: ",")
            rows += try await store.find(
                filterJSON: #"{"site_id": \#(site), "session_id": {"$in": [\#(ids)]}, "timestamp": \#(timestamp)}"#,
                fields: EventRow.fields, maxTime: maxTime
            ) { EventRow($0) }
            guard rows.count <= maxEvents else {
                throw QueryError("the period's visits hold more than \(maxEvents) events: narrow the period")
            }
        }
        return rows
    }

    /// Extended JSON for a BSON date.
    static func date(_ millis: Int64) -> String { #"{"$date": {"$numberLong": "\#(millis)"}}"# }

    /// Extended JSON for `[start, end)` on a date field.
    static func between(_ start: Int64, _ end: Int64) -> String { #"{"$gte": \#(date(start)), "$lt": \#(date(end))}"# }
}
