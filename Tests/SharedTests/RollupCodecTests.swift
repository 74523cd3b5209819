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
}
