import Testing

@testable import Shared

/// Distinct-visitor sketches: exact while small, within 1% when large, mergeable, storable.
struct VisitorSketchTests {
    /// A deterministic stream of 64-bit ids (splitmix64 with its own constants, unlike the sketch's mixer).
    struct Ids {
        var state: UInt64
        mutating func next() -> Int64 {
            state &+= 0x2545_F491_4F6C_DD1D
            var z = state
            z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
            z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
            return Int64(bitPattern: z ^ (z >> 33))
        }
    }

    /// A sketch of `ids`.
    func sketch<S: Sequence<Int64>>(_ ids: S) -> VisitorSketch {
        var sketch = VisitorSketch()
        for id in ids { sketch.insert(id) }
        return sketch
    }

    /// The sketch as stored and read back (a HyperLogLog past `exactLimit` ids).
    func stored(_ sketch: VisitorSketch) throws -> VisitorSketch {
        try #require(VisitorSketch(encoded: sketch.encoded()))
    }

    func expectWithinOnePercent(_ estimate: Int, _ truth: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = abs(Double(estimate - truth)) / Double(truth)
        #expect(error <= 0.01, "estimate \(estimate) for \(truth): \(error * 100)%", sourceLocation: sourceLocation)
    }

    @Test func emptySketchCountsNobody() throws {
        let empty = VisitorSketch()
        #expect(empty.count == 0)
        #expect(empty.isExact)
        #expect(try stored(empty) == empty)
        #expect(empty.encoded() == [1, 0, 0, 0, 0])
    }

    @Test func repeatedVisitorsCountOnce() {
        var visitors = VisitorSketch()
        for _ in 0..<5 {
            for id in -500..<1500 { visitors.insert(Int64(id) * 7_919) }
        }
        visitors.insert(.min)
        visitors.insert(.max)
        #expect(visitors.count == 2002)
        #expect(visitors.isExact)
    }

    @Test func largeSetsStayExactInMemory() {
        var ids = Ids(state: 1)
        var visitors = VisitorSketch()
        var truth = Set<Int64>()
        for _ in 0..<60_000 {
            let id = ids.next() % 40_000  // many repeats
            visitors.insert(id)
            truth.insert(id)
        }
        #expect(visitors.isExact)
        #expect(visitors.count == truth.count)
    }

    @Test func mergingDaysOfHourlySketchesIsExact() throws {
        var ids = Ids(state: 7)
        let population = (0..<30_000).map { _ in ids.next() }
        var truth = Set<Int64>()
        var hours: [VisitorSketch] = []
        for _ in 0..<24 {
            var hour = VisitorSketch()
            for _ in 0..<3_000 {
                let visitor = population[Int(UInt64(bitPattern: ids.next()) % 30_000)]
                hour.insert(visitor)
                truth.insert(visitor)
            }
            hours.append(try stored(hour))
        }
        #expect(hours.allSatisfy { $0.isExact })
        var day = VisitorSketch()
        for hour in hours { day.merge(hour) }
        #expect(day.isExact)
        #expect(day.count == truth.count)
        var reversed = VisitorSketch()
        for hour in hours.reversed() { reversed.merge(hour) }
        #expect(reversed == day)
    }

    @Test func mergingAMonthOfHourlySketchesCountsEveryVisitorOnce() {
        var ids = Ids(state: 11)
        let population = (0..<100_000).map { _ in ids.next() }
        var truth = Set<Int64>()
        var month = VisitorSketch()
        for _ in 0..<720 {
            var hour = VisitorSketch()
            for _ in 0..<400 {
                let visitor = population[Int(UInt64(bitPattern: ids.next()) % 100_000)]
                hour.insert(visitor)
                truth.insert(visitor)
            }
            month.merge(hour)
        }
        #expect(month.count == truth.count)
    }

    @Test func pastTheMergeLimitAMergeTurnsIntoAHyperLogLog() {
        let half = VisitorSketch.mergeLimit / 2 + 50_000
        var visitors = sketch((0..<half).lazy.map { Int64($0) })
        visitors.merge(sketch((half..<2 * half).lazy.map { Int64($0) }))
        #expect(!visitors.isExact)
        expectWithinOnePercent(visitors.count, 2 * half)
    }

    @Test(arguments: [(100_000, UInt64(1)), (300_000, 2), (1_000_000, 3)])
    func hyperLogLogIsWithinOnePercent(size: Int, seed: UInt64) throws {
        var ids = Ids(state: seed)
        let random = try stored(sketch((0..<size).lazy.map { _ in ids.next() }))
        #expect(!random.isExact)
        expectWithinOnePercent(random.count, size)
        let sequential = try stored(sketch((0..<size).lazy.map { Int64($0) }))
        expectWithinOnePercent(sequential.count, size)
    }

    @Test func smallHyperLogLogsAreAccurateToo() throws {
        for size in [VisitorSketch.exactLimit + 1, 6_000, 20_000] {
            let visitors = try stored(sketch((0..<size).lazy.map { Int64($0) * 31 }))
            #expect(!visitors.isExact)
            expectWithinOnePercent(visitors.count, size)
        }
    }

    @Test func mergingHyperLogLogsTakesTheUnion() throws {
        let a = try stored(sketch((0..<200_000).lazy.map { Int64($0) }))
        let b = try stored(sketch((100_000..<300_000).lazy.map { Int64($0) }))
        var ab = a
        ab.merge(b)
        var ba = b
        ba.merge(a)
        #expect(ab == ba)
        expectWithinOnePercent(ab.count, 300_000)
        var again = ab
        again.merge(a)
        #expect(again == ab)  // merging is idempotent
        #expect(ab == (try stored(sketch((0..<300_000).lazy.map { Int64($0) }))))  // same registers as one sketch of the union
    }

    @Test func mergingExactIntoHyperLogLogInsertsTheIds() throws {
        let big = try stored(sketch((0..<100_000).lazy.map { Int64($0) }))
        let small = sketch((100_000..<102_000).lazy.map { Int64($0) })
        var bigFirst = big
        bigFirst.merge(small)
        var smallFirst = small
        smallFirst.merge(big)
        #expect(bigFirst == smallFirst)
        #expect(!smallFirst.isExact)
        expectWithinOnePercent(bigFirst.count, 102_000)
    }

    @Test func encodingRoundTrips() throws {
        let exact = sketch((0..<VisitorSketch.exactLimit).lazy.map { Int64($0) * -3 })
        let exactBytes = exact.encoded()
        #expect(exactBytes.first == 1)
        #expect(exactBytes.count == 5 + 8 * VisitorSketch.exactLimit)
        let exactBack = try stored(exact)
        #expect(exactBack == exact)
        #expect(exactBack.isExact)
        #expect(exactBack.count == VisitorSketch.exactLimit)

        let sparse = try stored(sketch((0..<10_000).lazy.map { Int64($0) }))
        let sparseBytes = sparse.encoded()
        #expect(sparseBytes.first == 3)
        #expect(sparseBytes.count < 40_000)
        #expect(try stored(sparse) == sparse)

        let dense = try stored(sketch((0..<200_000).lazy.map { Int64($0) }))
        let denseBytes = dense.encoded()
        #expect(denseBytes.first == 2)
        #expect(denseBytes.count == 1 + 49_152)
        #expect(try stored(dense) == dense)
        #expect(try stored(dense).count == dense.count)
    }

    @Test func malformedEncodingsAreRefused() {
        let exact = sketch([5, 9, 12]).encoded()
        let dense = sketch((0..<200_000).lazy.map { Int64($0) }).encoded()
        var unsorted = exact
        unsorted.swapAt(5, 13)  // first byte of ids 5 and 9
        var repeated = exact
        repeated.replaceSubrange(13..<21, with: exact[5..<13])
        var tooHigh = dense
        tooHigh[1] = 0x3F  // first register 63 > 49
        let cases: [[UInt8]] = [
            [], [0], [4], [255, 1, 2], [1], [1, 0, 0, 0], [1, 1, 0, 0, 0],
            Array(exact.dropLast()), exact + [0], unsorted, repeated,
            [1, 255, 255, 255, 255], Array(dense.dropLast()), dense + [0], tooHigh,
            [3, 1, 0, 0, 0, 0, 0, 0], [3, 1, 0, 0, 0, 0, 0, 50], [3, 2, 0, 0, 0, 5, 0, 1, 5, 0, 1], [3, 255, 255, 255, 255],
        ]
        for bytes in cases {
            #expect(VisitorSketch(encoded: bytes) == nil, "\(bytes.prefix(12))")
        }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var ids = Ids(state: 99)
        for trial in 0..<3_000 {
            let tag = UInt8(trial % 4)
            let length = Int(UInt64(bitPattern: ids.next()) % 64)
            let bytes = [tag] + (0..<length).map { _ in UInt8(truncatingIfNeeded: ids.next()) }
            if let decoded = VisitorSketch(encoded: bytes) {
                #expect(decoded.count >= 0)
            }
        }
    }
}
