import Foundation
import Testing

@testable import Shared

/// The query engine against nx-27017, checked against numbers this file computes on its own
/// from the events it generated: over 30 days, in two time zones, across their DST changes
/// (Europe on 2026-10-25, the United States on 2026-11-01), from rollups and from raw events.
@Suite struct StatsEngineTests {
    /// Midnight UTC, 2026-10-20: the period runs to 2026-11-19, past both DST changes.
    static let periodStart: Int64 = 1_792_454_400_000
    static let day: Int64 = 86_400_000
    /// "Now" for the engine: days after the period, so every hour is settled.
    static let now = periodStart + 35 * day

    /// An engine over the servers' store at `now`, with time enough to build every rollup.
    static func engine(_ servers: TestServers, maxRawEvents: Int = 2_000_000) -> QueryEngine {
        QueryEngine(store: servers.store, maxRawEvents: maxRawEvents, buildBudget: .seconds(600), logger: servers.logger, now: { now })
    }

    @Test(arguments: ["Europe/Paris", "America/New_York"])
    func thirtyDaysMatchTheEventsInTwoZones(zone: String) async throws {
        try await TestServers.with(mongo: .stats) { servers in
            let stream = EventStream(seed: zone == "Europe/Paris" ? 11 : 12, site: "engine.test", start: Self.periodStart - Self.day, days: 32)
            try await stream.store(in: servers.store)
            let calendar = try #require(SiteCalendar(timeZone: zone))
            let engine = Self.engine(servers)
            let days = localDays(zone: zone, from: (2026, 10, 20), count: 30)
            let period = TimeRange(start: days[0].start, end: days[29].end)

            let request = StatsRequest(siteID: stream.site, calendar: calendar, range: period)
            let first = try await engine.run(request)
            let again = try await engine.run(request)
            #expect(first.plan.rebuiltHours > 700, "the first query builds the hours")
            #expect(again.plan.rollupHours >= 719 && again.plan.rebuiltHours == 0, "the second reads them: \(again.plan)")
            for result in [first, again] {
                let cell = try #require(result.rows.first?.cell)
                stream.truth(in: period).expectEqual(to: cell, "\(zone) 30 days")
            }

            let series = try await engine.run(StatsRequest(siteID: stream.site, calendar: calendar, range: period, dimensions: [.time(.day)]))
            #expect(series.rows.count == 30)
            let byStart = Dictionary(uniqueKeysWithValues: series.rows.compactMap { row -> (Int64, Cell)? in
                guard case .time(let start)? = row.key.first else { return nil }
                return (start, row.cell)
            })
            let lengths = Set(days.map { $0.end - $0.start })
            #expect(lengths == [23 * 3_600_000, 24 * 3_600_000] || lengths == [24 * 3_600_000, 25 * 3_600_000])
            for day in days {
                let cell = try #require(byStart[day.start], "a bucket for the local day starting at \(day.start)")
                stream.truth(in: TimeRange(start: day.start, end: day.end)).expectEqual(to: cell, "\(zone) day \(day.start)")
            }

            let pages = try await engine.run(StatsRequest(siteID: stream.site, calendar: calendar, range: period, dimensions: [.property(.page)]))
            for row in pages.rows {
                guard case .text(let page)? = row.key.first else { continue }
                let truth = stream.events.filter { period.contains($0.timestamp) && $0.path == page }
                #expect(row.cell.pageviews == truth.count, "page views of \(page)")
                #expect(row.cell.visitors.count == Set(truth.map(\.visitor)).count, "visitors of \(page)")
            }

            // The same numbers from raw events alone: a filter that keeps everything forces it.
            let raw = try await engine.run(StatsRequest(
                siteID: stream.site, calendar: calendar, range: period, filter: .condition(.name, .isNot, ["no such event"])))
            #expect(raw.plan.rollupHours == 0)
            stream.truth(in: period).expectEqual(to: try #require(raw.rows.first?.cell), "\(zone) raw")
        }
    }

    @Test func aLateEventMakesItsHourStale() async throws {
        try await TestServers.with(mongo: .stats) { servers in
            var stream = EventStream(seed: 3, site: "late.test", start: Self.periodStart, days: 2)
            try await stream.store(in: servers.store)
            let engine = Self.engine(servers)
            let period = TimeRange(start: Self.periodStart, end: Self.periodStart + 2 * Self.day)
            let request = StatsRequest(siteID: stream.site, calendar: .utc, range: period)
            _ = try await engine.run(request)
            let late = stream.addVisit(at: Self.periodStart + 5 * 3_600_000 + 120_000, pageviews: 3)
            try await stream.store(late, in: servers.store)
            let after = try await engine.run(request)
            #expect(after.plan.rebuiltHours >= 1, "the late visit's hour is built again")
            stream.truth(in: period).expectEqual(to: try #require(after.rows.first?.cell), "after a late visit")
        }
    }

    /// A visit's later event bumps only its own hours; the hour the visit started in depends on
    /// them by the generations it recorded, so it is built again: the bounce becomes a visit of
    /// two pages with a duration.
    @Test func anEventLaterInAVisitMakesTheHourItStartedInStale() async throws {
        try await TestServers.with(mongo: .stats) { servers in
            var stream = EventStream(seed: 4, site: "reach.test", start: Self.periodStart, days: 1)
            let first = try #require(stream.addVisit(at: Self.periodStart + 5 * 3_600_000 + 50 * 60_000, pageviews: 1).first)
            try await stream.store(in: servers.store)
            let engine = Self.engine(servers)
            let period = TimeRange(start: Self.periodStart, end: Self.periodStart + Self.day)
            let request = StatsRequest(siteID: stream.site, calendar: .utc, range: period)
            stream.truth(in: period).expectEqual(to: try #require(try await engine.run(request).rows.first?.cell), "before")
            // 25 minutes later, in the next hour: it bumps hours 6 and 6:55's (6), never hour 5.
            let late = stream.extend(first, at: first.timestamp + 25 * 60_000)
            try await stream.store([late], in: servers.store)
            let after = try await engine.run(request)
            #expect(after.plan.rebuiltHours >= 2, "hour 5 is built again with hour 6: \(after.plan)")
            stream.truth(in: period).expectEqual(to: try #require(after.rows.first?.cell), "after the visit went on")
        }
    }

    /// A day holding more events than one raw read may is built in halves, down to single
    /// hours, and answers the same numbers as a small day does.
    @Test func aDayTooBusyForOneReadIsBuiltInParts() async throws {
        try await TestServers.with(mongo: .stats) { servers in
            let stream = EventStream(seed: 5, site: "busy.test", start: Self.periodStart, days: 1)
            try await stream.store(in: servers.store)
            #expect(stream.events.count > 200, "the day must hold more than the engine's read limit")
            let engine = Self.engine(servers, maxRawEvents: 150)
            let period = TimeRange(start: Self.periodStart, end: Self.periodStart + Self.day)
            let result = try await engine.run(StatsRequest(siteID: stream.site, calendar: .utc, range: period))
            #expect(result.plan.rebuiltHours > 0 && result.plan.rawEvents > 0)
            stream.truth(in: period).expectEqual(to: try #require(result.rows.first?.cell), "built in parts")
        }
    }

    /// The local days of `zone`, as Foundation's calendar cuts them: `[start, end)` in ms.
    func localDays(zone: String, from first: (Int, Int, Int), count: Int) -> [(start: Int64, end: Int64)] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone)!
        let origin = calendar.date(from: DateComponents(year: first.0, month: first.1, day: first.2))!
        return (0..<count).map { offset in
            let start = calendar.date(byAdding: .day, value: offset, to: origin)!
            let end = calendar.date(byAdding: .day, value: offset + 1, to: origin)!
            return (Int64(start.timeIntervalSince1970 * 1000), Int64(end.timeIntervalSince1970 * 1000))
        }
    }
}

/// A reproducible stream of visits: 1 to 10 page views 10 s to 25 min apart, a custom event
/// in some, visitors coming back on other days.
struct EventStream {
    struct Generated {
        var id: String
        var timestamp: Int64
        var path: String?
        var visitor: Int64
        var session: Int64
    }

    let site: String
    private(set) var events: [Generated] = []
    private var random: SplitMix
    private let visitors: [Int64]

    init(seed: UInt64, site: String, start: Int64, days: Int) {
        self.site = site
        random = SplitMix(seed: seed)
        var pool: [Int64] = []
        for _ in 0..<300 { pool.append(Int64(bitPattern: random.next())) }
        visitors = pool
        for _ in 0..<(days * 60) {
            let at = start + Int64(random.next() % UInt64(Int64(days) * 86_400_000))
            _ = addVisit(at: at, pageviews: 1 + Int(random.next() % 10))
        }
    }

    /// Adds one visit starting at `at`; returns its events.
    mutating func addVisit(at: Int64, pageviews: Int) -> [Generated] {
        let visitor = visitors[Int(random.next() % UInt64(visitors.count))]
        let session = Int64(bitPattern: random.next())
        var time = at
        var added: [Generated] = []
        for index in 0..<pageviews {
            if index > 0 { time += 10_000 + Int64(random.next() % 1_490_000) }
            added.append(Generated(id: "e\(events.count + added.count)", timestamp: time, path: "/p\(random.next() % 12)", visitor: visitor, session: session))
        }
        if random.next() % 5 == 0 {
            time += 5_000
            added.append(Generated(id: "e\(events.count + added.count)", timestamp: time, path: nil, visitor: visitor, session: session))
        }
        events += added
        return added
    }

    /// Adds one page view at `at` to the visit of `event` (same visitor and session).
    mutating func extend(_ event: Generated, at: Int64) -> Generated {
        let added = Generated(id: "e\(events.count)", timestamp: at, path: "/late", visitor: event.visitor, session: event.session)
        events.append(added)
        return added
    }

    /// Stores every event through the store's insert (which keeps rollups honest).
    func store(in store: MongoStore) async throws { try await self.store(events, in: store) }

    /// Stores `subset`.
    func store(_ subset: [Generated], in store: MongoStore) async throws {
        let stored = subset.map { generated in
            StoredEvent(Event(
                eventID: generated.id, siteID: site, eventType: generated.path == nil ? "signup" : "page_view", path: generated.path,
                timestamp: generated.timestamp, receivedAt: generated.timestamp,
                visit: VisitFields(
                    visitorID: generated.visitor, sessionID: generated.session, hostname: "example.com", referrer: nil, source: "Direct / None",
                    utmMedium: nil, utmSource: nil, utmCampaign: nil, utmContent: nil, utmTerm: nil, browser: "Firefox", browserVersion: "120",
                    os: "Linux", osVersion: "", device: "Desktop", country: "FR")))
        }
        for start in stride(from: 0, to: stored.count, by: 500) {
            let report = try await store.insert(Array(stored[start..<min(start + 500, stored.count)]))
            #expect(report.failures.isEmpty)
        }
    }

    /// The metrics of `range`, computed here from the generated events, by definition.
    func truth(in range: TimeRange) -> Truth {
        let inside = events.filter { range.contains($0.timestamp) }
        let sessions = Dictionary(grouping: events, by: \.session).values.filter { range.contains($0.map(\.timestamp).min()!) }
        return Truth(
            pageviews: inside.filter { $0.path != nil }.count, events: inside.count, visitors: Set(inside.map(\.visitor)).count,
            visits: sessions.count, bounces: sessions.filter { $0.count == 1 && $0[0].path != nil }.count,
            durationMillis: sessions.reduce(0) { $0 + $1.map(\.timestamp).max()! - $1.map(\.timestamp).min()! })
    }

    struct Truth {
        var pageviews, events, visitors, visits, bounces: Int
        var durationMillis: Int64

        func expectEqual(to cell: Cell, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(cell.pageviews == pageviews, "\(context): pageviews", sourceLocation: sourceLocation)
            #expect(cell.events == events, "\(context): events", sourceLocation: sourceLocation)
            #expect(cell.visitors.count == visitors, "\(context): visitors", sourceLocation: sourceLocation)
            #expect(cell.visits == visits, "\(context): visits", sourceLocation: sourceLocation)
            #expect(cell.bounces == bounces, "\(context): bounces", sourceLocation: sourceLocation)
            #expect(cell.durationMillis == durationMillis, "\(context): duration", sourceLocation: sourceLocation)
        }
    }
}

/// SplitMix64: a small deterministic generator for test data.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
