import Foundation
import Testing

@testable import Shared

/// Rollups under faults: read while a worker drains, the worker killed with SIGKILL mid-drain,
/// a survivor finishing, then `Worker rollups rebuild`. Every answer must equal the numbers
/// computed here from the raw events that ended up stored.
@Suite struct StatsRecoveryTests {
    static let hour: Int64 = 3_600_000
    /// Ten days before the suite's fixed "now": every hour settled.
    static let start: Int64 = 1_792_454_400_000
    static let now = start + 12 * 24 * hour

    @Test func answersEqualRawEventsAfterAKilledWorkerAndARebuild() async throws {
        try await TestServers.with(mongo: .stats) { servers in
            let site = "recovery.test"
            let total = 6_000
            var random = SplitMix(seed: 42)
            var payloads: [[UInt8]] = []
            // Visitors (40 addresses) browse in bursts over four or five days; receivedAt equals the
            // event time, so the worker places each in a visit as it would live.
            var time = Self.start
            for index in 0..<total {
                time += Int64(random.next() % 60_000) + (random.next() % 60 == 0 ? 35 * 60_000 : 0)
                let client = ClientContext(
                    ip: "10.0.0.\(random.next() % 40)", ua: "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                    url: "https://\(site)/p\(random.next() % 8)", ref: nil)
                let event = Event(
                    eventID: "r\(index)", siteID: site, eventType: index % 7 == 0 ? "signup" : "page_view", path: "/p\(random.next() % 8)",
                    timestamp: time, receivedAt: time, client: client)
                payloads.append(Array(try JSONEncoder().encode(event)))
            }
            for chunk in stride(from: 0, to: total, by: 1000) { try await servers.queue.enqueue(Array(payloads[chunk..<chunk + 1000])) }
            let period = TimeRange(start: Self.start, end: Self.start + 7 * 24 * Self.hour)
            let engine = QueryEngine(store: servers.store, buildBudget: .seconds(600), logger: servers.logger, now: { Self.now })
            let request = StatsRequest(siteID: site, calendar: .utc, range: period, dimensions: [.time(.hour)])

            let doomed = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "100", "HEARTBEAT_TTL_MS": "1000"])
            try await eventually("the worker is storing") { try await servers.count() >= 1_500 }
            doomed.kill(signal: SIGKILL)
            _ = try await doomed.waitForExit(timeout: .seconds(5))
            #expect(try await servers.count() < total, "the worker finished before the kill; the test proved nothing")
            // Readers build and store rollups from what is stored so far, and again while the
            // survivor stores the rest into the hours they cover.
            _ = try await engine.run(request)
            let survivor = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "100", "HEARTBEAT_TTL_MS": "1000"])
            var readsDuringDrain = 0
            while try await servers.count() < total, readsDuringDrain < 20 {
                _ = try await engine.run(request)
                readsDuringDrain += 1
            }
            try await eventually("every event is stored", timeout: .seconds(120)) { try await servers.count() == total }
            await survivor.stop()

            let rows = try await servers.store.find(filterJSON: #"{"site_id": "\#(site)"}"#, fields: EventRow.fields) { EventRow($0) }
            #expect(rows.count == total)
            try await expectTruth(engine.run(request), rows, period, "after the kill")
            let raw = try await engine.run(StatsRequest(
                siteID: site, calendar: .utc, range: period, dimensions: [.time(.hour)], filter: .condition(.name, .isNot, ["none"])))
            try expectTruth(raw, rows, period, "raw")

            let rebuilt = try await WorkerProcess.run(servers, ["rollups", "rebuild", "--site", site, "--from", "2026-10-19", "--to", "2026-10-26"])
            #expect(rebuilt.status == 0, "\(rebuilt.output)")
            let after = try await engine.run(request)
            #expect(after.plan.rebuiltHours == 0 && after.plan.rawEvents == 0 && after.plan.rollupHours + after.plan.emptyHours == 168, "\(after.plan)")
            try expectTruth(after, rows, period, "after a rebuild")
        }
    }

    /// Checks each hour's cell against the stored events, counted here by definition.
    func expectTruth(_ result: StatsResult, _ rows: [EventRow], _ period: TimeRange, _ context: String) throws {
        let cells = Dictionary(uniqueKeysWithValues: result.rows.compactMap { row -> (Int64, Cell)? in
            guard case .time(let start)? = row.key.first else { return nil }
            return (start, row.cell)
        })
        let sessions = Dictionary(grouping: rows, by: { $0.sessionID ?? 0 }).values
        var checked = 0
        for hour in stride(from: period.start, to: period.end, by: Int(Self.hour)) {
            let range = TimeRange(start: hour, end: hour + Self.hour)
            let inside = rows.filter { range.contains($0.timestamp) }
            let started = sessions.filter { range.contains($0.map(\.timestamp).min() ?? .min) }
            let cell = cells[hour] ?? Cell()
            #expect(cell.pageviews == inside.filter(\.isPageview).count, "\(context) \(hour): pageviews")
            #expect(cell.events == inside.count, "\(context) \(hour): events")
            #expect(cell.visitors.count == Set(inside.compactMap(\.visitorID)).count, "\(context) \(hour): visitors")
            #expect(cell.visits == started.count, "\(context) \(hour): visits")
            #expect(cell.bounces == started.filter { $0.count == 1 && $0[0].isPageview }.count, "\(context) \(hour): bounces")
            let duration = started.reduce(Int64(0)) { $0 + ($1.map(\.timestamp).max() ?? 0) - ($1.map(\.timestamp).min() ?? 0) }
            #expect(cell.durationMillis == duration, "\(context) \(hour): duration")
            checked += inside.count
        }
        #expect(checked == rows.count, "\(context): every event falls in the period")
    }
}
