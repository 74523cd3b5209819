import Testing

@testable import Shared

/// Rollup cells and tables survive their binary form, and hostile bytes decode to nothing.
@Suite struct RollupCodecTests {
    static func cell(visitors: [Int64], visits: Int) -> Cell {
        var cell = Cell()
        for visitor in visitors { cell.visitors.insert(visitor) }
        cell.visits = visits
        cell.pageviews = visits * 3
        cell.events = visits * 4
        cell.bounces = visits / 2
        cell.durationMillis = Int64(visits) * 61_000
        return cell
    }

    @Test func cellsRoundTrip() throws {
        let original = Self.cell(visitors: [1, -5, 1 << 40, 7], visits: 9)
        var bytes: [UInt8] = []
        RollupCodec.encode(original, into: &bytes)
        let decoded = try #require(RollupCodec.cell(from: bytes[...]))
        #expect(decoded == original)
        #expect(decoded.visitors.count == 4)
    }

    @Test func tablesAndPropsRoundTrip() throws {
        let table = ["/a": Self.cell(visitors: [1, 2], visits: 2), "/b\u{1}é": Self.cell(visitors: [], visits: 0)]
        #expect(RollupCodec.table(from: RollupCodec.encode(table)[...]) == table)
        let props = ["plan": table, "": [:]]
        #expect(RollupCodec.props(from: RollupCodec.encode(props: props)[...]) == props)
    }

    @Test func malformedBytesDecodeToNothing() {
        let good = RollupCodec.encode(["/a": Self.cell(visitors: [3], visits: 1)])
        for cut in 0..<good.count { #expect(RollupCodec.table(from: good[..<cut]) == nil) }
        #expect(RollupCodec.table(from: (good + [0])[...]) == nil)
        #expect(RollupCodec.table(from: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][...]) == nil)
        #expect(RollupCodec.cell(from: [200, 1][...]) == nil)
    }

    /// Reads of stored hours merge their bytes straight into the answer's cells: a month of
    /// hourly tables so merged must equal the original cells merged one by one (their visitors
    /// as stored: a large hour's become a HyperLogLog, decoded by `VisitorSketch(encoded:)`).
    @Test func mergingStoredTablesEqualsMergingTheOriginalCells() throws {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 17
        }
        var fromBytes: [String: Cell] = [:]
        var expected: [String: Cell] = [:]
        for hour in 0..<720 {
            var table: [String: Cell] = [:]
            for page in 0..<Int(next() % 12) {
                // Visitors from a pool, so hours share some.
                table["/p\(page)"] = Self.cell(visitors: (0..<Int(next() % 40)).map { _ in Int64(next() % 5_000) }, visits: Int(next() % 9))
            }
            if hour == 300 {
                // More visitors than a stored sketch keeps exactly: a HyperLogLog merged into exact sets.
                table["/p0"] = Self.cell(visitors: (0..<VisitorSketch.exactLimit + 10).map { Int64(10_000 + $0) }, visits: 1)
            }
            let stored = try #require(RollupCodec.storedTable(RollupCodec.encode(table)[...]))
            for (value, cell) in stored { fromBytes[String(decoding: value, as: UTF8.self), default: Cell()].merge(cell) }
            for (value, cell) in table {
                var asStored = cell
                asStored.visitors = try #require(VisitorSketch(encoded: cell.visitors.encoded()))
                expected[value, default: Cell()].merge(asStored)
            }
        }
        #expect(fromBytes.count == expected.count)
        for (value, cell) in expected {
            let merged = try #require(fromBytes[value])
            #expect(merged == cell, "\(value)")
        }
        #expect(expected["/p0"]?.visitors.isExact == false)
        #expect(expected["/p1"]?.visitors.isExact == true)
    }

    /// A breakdown by a custom property reads that key's table of an hour, and only that.
    @Test func aCustomPropertyTableIsFoundByItsKey() throws {
        let table = ["pro": Self.cell(visitors: [4], visits: 1)]
        let bytes = RollupCodec.encode(props: ["plan": table, "tier": [:]])[...]
        let found = try #require(RollupCodec.propTable(bytes, key: "plan"))
        #expect(RollupCodec.table(from: found) == table)
        #expect(RollupCodec.propTable(bytes, key: "missing")?.isEmpty == true)
        #expect(RollupCodec.propTable(bytes.dropLast(), key: "plan") == nil)
    }

    /// Counters no hour can reach are malformed: summing them would overflow and trap.
    @Test func absurdCountersAreRefused() {
        var bytes: [UInt8] = []
        RollupCodec.encode(Self.cell(visitors: [1], visits: 1), into: &bytes)
        var huge = Self.cell(visitors: [1], visits: 1)
        huge.pageviews = Int.max
        var hugeBytes: [UInt8] = []
        RollupCodec.encode(huge, into: &hugeBytes)
        #expect(RollupCodec.cell(from: bytes[...]) != nil)
        #expect(RollupCodec.cell(from: hugeBytes[...]) == nil)
    }

    /// Twenty years of hours, each at the largest counters a stored cell may hold, sum without
    /// trapping: the sums stop at the largest value.
    @Test func longPeriodsOfLargestCellsSaturate() throws {
        var largest = Self.cell(visitors: [1], visits: 1)
        largest.visits = Cell.maxCounter
        largest.durationMillis = Int64(Cell.maxCounter) * 1000
        var bytes: [UInt8] = []
        RollupCodec.encode(largest, into: &bytes)
        var reader = ByteReader(bytes[...])
        let stored = try #require(RollupCodec.storedCell(&reader))
        var total = Cell()
        for _ in 0..<175_320 { total.merge(stored) }
        #expect(total.durationMillis == Int64.max)
        #expect(total.visits == 175_320 * Cell.maxCounter)
    }
}
