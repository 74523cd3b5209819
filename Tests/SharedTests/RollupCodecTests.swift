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
    /// hourly tables so merged must equal the same tables decoded and merged one by one.
    @Test func mergingStoredTablesEqualsMergingDecodedOnes() throws {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 17
        }
        var fromBytes: [String: Cell] = [:]
        var decoded: [String: Cell] = [:]
        for hour in 0..<720 {
            var table: [String: Cell] = [:]
            for page in 0..<Int(next() % 12) {
                // Visitors from a pool, so hours share some.
                table["/p\(page)"] = Self.cell(visitors: (0..<Int(next() % 40)).map { _ in Int64(next() % 5_000) }, visits: Int(next() % 9))
            }
            if hour % 100 == 0 {
                // More visitors than a stored sketch keeps exactly: a HyperLogLog merged in.
                table["/big"] = Self.cell(visitors: (0..<VisitorSketch.exactLimit + 10).map { Int64(hour * 10_000 + $0) }, visits: 1)
            }
            let bytes = RollupCodec.encode(table)[...]
            let stored = try #require(RollupCodec.storedTable(bytes))
            for (value, cell) in stored { fromBytes[String(decoding: value, as: UTF8.self), default: Cell()].merge(cell) }
            for (value, cell) in try #require(RollupCodec.table(from: bytes)) { decoded[value, default: Cell()].merge(cell) }
        }
        #expect(fromBytes.count == decoded.count)
        for (value, cell) in decoded {
            let merged = try #require(fromBytes[value])
            if cell.visitors.isExact {
                #expect(merged.visitors == cell.visitors, "\(value)")
            } else {
                #expect(merged.visitors.count == cell.visitors.count, "\(value)")
            }
            #expect(merged.visits == cell.visits && merged.pageviews == cell.pageviews && merged.durationMillis == cell.durationMillis)
        }
        #expect(decoded["/big"]?.visitors.isExact == false)
    }

    @Test func aCustomPropertysTableIsFoundByItsKey() throws {
        let table = ["pro": Self.cell(visitors: [4], visits: 1)]
        let bytes = RollupCodec.encode(props: ["plan": table, "tier": [:]])[...]
        let found = try #require(RollupCodec.propTable(bytes, key: "plan"))
        #expect(RollupCodec.table(from: found) == table)
        #expect(RollupCodec.propTable(bytes, key: "missing")?.isEmpty == true)
        #expect(RollupCodec.propTable(bytes.dropLast(), key: "plan") == nil)
    }
}
