/// The distinct visitors of a group, mergeable: an exact set while small, a HyperLogLog
/// (precision 16: 65,536 registers, standard error 0.41%) when large.
///
/// - In memory a sketch stays exact while it holds at most `mergeLimit` ids, so the union of 24
///   hourly sketches (one day's visitors) is exact, and so, usually, is that of 720.
/// - Stored (`encoded()`) it stays exact up to `exactLimit` ids (8 bytes each), and is a
///   HyperLogLog beyond: an hour of a normal site is stored exactly.
///
/// Merging is cheap in bulk: merged-in sets are kept as sorted runs and folded in batches
/// (a balanced merge of sorted arrays, no hashing), so merging n sketches of k ids costs about
/// n·k·log(n) steps, not n²·k.
public struct VisitorSketch: Sendable, Equatable, CustomStringConvertible {
    /// The most ids a stored (encoded) sketch keeps exactly; larger ones are stored as a HyperLogLog.
    public static let exactLimit = 4096
    /// The most ids a sketch is sure to keep exactly in memory. Past it, it turns into a
    /// HyperLogLog when its pending ids are next folded in (so it never holds much more than
    /// twice this many ids, 16 MiB).
    public static let mergeLimit = 1 << 20

    /// Folding pending ids waits until there are at least this many (or as many as are folded).
    static let foldFloor = 1024

    /// Distinct ids, sorted (exact mode).
    var sorted: [UInt64] = []
    /// Sorted runs of distinct ids merged in, not yet folded into `sorted`.
    var runs: [[UInt64]] = []
    /// Ids inserted, not yet folded into `sorted`; unsorted, may repeat.
    var loose: [UInt64] = []
    /// How many ids `runs` and `loose` hold.
    var pendingCount = 0
    /// HyperLogLog registers; empty while exact.
    var registers: [UInt8] = []

    /// An empty sketch.
    public init() {}

    /// True while `count` is exact.
    public var isExact: Bool { registers.isEmpty }

    /// The number of distinct visitors: exact while `isExact`, else the HyperLogLog estimate.
    public var count: Int {
        if !registers.isEmpty { return HyperLogLog.estimate(registers) }
        if pendingCount == 0 { return sorted.count }
        var folded = self
        folded.fold()
        return folded.sorted.count
    }

    /// Adds a visitor (a keyed hash of who they are).
    public mutating func insert(_ visitor: Int64) {
        let id = UInt64(bitPattern: visitor)
        if !registers.isEmpty {
            HyperLogLog.insert(id, into: &registers)
            return
        }
        if Self.binarySearch(sorted, id) { return }
        loose.append(id)
        pendingCount += 1
        foldIfDue()
    }

    /// Adds every visitor of `other`.
    public mutating func merge(_ other: VisitorSketch) {
        switch (registers.isEmpty, other.registers.isEmpty) {
        case (true, true):
            if sorted.isEmpty && pendingCount == 0 {
                self = other
                return
            }
            if !other.sorted.isEmpty { runs.append(other.sorted) }
            runs.append(contentsOf: other.runs)
            loose.append(contentsOf: other.loose)
            pendingCount += other.sorted.count + other.pendingCount
            foldIfDue()
        case (false, true):
            other.forEachID { HyperLogLog.insert($0, into: &registers) }
        case (true, false):
            var union = other.registers
            forEachID { HyperLogLog.insert($0, into: &union) }
            self = VisitorSketch()
            registers = union
        case (false, false):
            HyperLogLog.maximize(&registers, with: other.registers)
        }
    }

    /// A short summary (`exact: 1234 visitors`), not the ids: test failures and logs stay readable.
    public var description: String {
        isExact ? "VisitorSketch(exact: \(count) visitors)" : "VisitorSketch(HyperLogLog: about \(count) visitors)"
    }

    /// Equal when both are exact with the same ids, or both are HyperLogLogs with the same registers.
    public static func == (lhs: VisitorSketch, rhs: VisitorSketch) -> Bool {
        switch (lhs.registers.isEmpty, rhs.registers.isEmpty) {
        case (true, true): lhs.folded().sorted == rhs.folded().sorted
        case (false, false): lhs.registers == rhs.registers
        default: false
        }
    }

    // MARK: Exact mode (internal)

    /// Folds pending ids once there are as many as already folded (amortised: each id is moved
    /// O(log n) times), and turns into a HyperLogLog past `mergeLimit`.
    mutating func foldIfDue() {
        guard pendingCount >= max(Self.foldFloor, sorted.count) else { return }
        fold()
        if sorted.count > Self.mergeLimit { switchToHyperLogLog() }
    }

    /// Moves every pending id into `sorted`.
    mutating func fold() {
        guard pendingCount > 0 else { return }
        var parts = runs
        if !loose.isEmpty {
            loose.sort()
            parts.append(Self.distinct(loose))
        }
        runs = []
        loose = []
        pendingCount = 0
        sorted = Self.union(sorted, Self.unionAll(parts))
    }

    /// A copy with every pending id folded.
    func folded() -> VisitorSketch {
        var copy = self
        copy.fold()
        return copy
    }

    /// Turns the exact set into HyperLogLog registers.
    mutating func switchToHyperLogLog() {
        guard registers.isEmpty else { return }
        var union = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
        forEachID { HyperLogLog.insert($0, into: &union) }
        self = VisitorSketch()
        registers = union
    }

    /// Calls `body` with every id held exactly (pending ones may repeat).
    func forEachID(_ body: (UInt64) -> Void) {
        sorted.forEach(body)
        for run in runs { run.forEach(body) }
        loose.forEach(body)
    }

    /// True when the sorted array `ids` holds `id`.
    static func binarySearch(_ ids: [UInt64], _ id: UInt64) -> Bool {
        var low = 0
        var high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low < ids.count && ids[low] == id
    }

    /// A sorted array without its repeats.
    static func distinct(_ ids: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(ids.count)
        for id in ids where out.last != id { out.append(id) }
        return out
    }

    /// The union of sorted runs of distinct ids: a bottom-up merge of adjacent runs, level by
    /// level, between two buffers (log2(runs) passes over the ids, two allocations).
    static func unionAll(_ parts: [[UInt64]]) -> [UInt64] {
        guard parts.count > 1 else { return parts.first ?? [] }
        var source: [UInt64] = []
        source.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var ends: [Int] = [0]
        for part in parts {
            source.append(contentsOf: part)
            ends.append(source.count)
        }
        var target = [UInt64](repeating: 0, count: source.count)
        while ends.count > 2 {
            var merged: [Int] = [0]
            merged.reserveCapacity(ends.count / 2 + 2)
            source.withUnsafeBufferPointer { from in
                target.withUnsafeMutableBufferPointer { to in
                    var written = 0
                    var run = 0
                    while run + 1 < ends.count {
                        let end = run + 2 < ends.count ? ends[run + 2] : ends[run + 1]
                        written = mergeDistinct(from, ends[run]..<ends[run + 1], ends[run + 1]..<end, into: to, at: written)
                        merged.append(written)
                        run += 2
                    }
                }
            }
            swap(&source, &target)
            ends = merged
        }
        source.removeSubrange((ends.last ?? 0)...)
        return source
    }

    /// The union of two sorted arrays of distinct ids, sorted and distinct.
    static func union(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        guard let aFirst = a.first, let aLast = a.last else { return b }
        guard let bFirst = b.first, let bLast = b.last else { return a }
        if aLast < bFirst { return a + b }
        if bLast < aFirst { return b + a }
        return [UInt64](unsafeUninitializedCapacity: a.count + b.count) { out, written in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    written = mergeDistinct(pa, 0..<pa.count, pb, 0..<pb.count, into: out, at: 0)
                }
            }
        }
    }

    /// Merges two sorted runs of distinct ids into `out` from `start`, keeping one of each
    /// repeated id; returns where writing stopped.
    static func mergeDistinct(
        _ from: UnsafeBufferPointer<UInt64>, _ a: Range<Int>, _ b: Range<Int>, into out: UnsafeMutableBufferPointer<UInt64>,
        at start: Int
    ) -> Int {
        mergeDistinct(from, a, from, b, into: out, at: start)
    }

    /// Merges sorted distinct `pa[a]` and `pb[b]` into `out` from `start`; returns where writing stopped.
    static func mergeDistinct(
        _ pa: UnsafeBufferPointer<UInt64>, _ a: Range<Int>, _ pb: UnsafeBufferPointer<UInt64>, _ b: Range<Int>,
        into out: UnsafeMutableBufferPointer<UInt64>, at start: Int
    ) -> Int {
        var i = a.lowerBound
        var j = b.lowerBound
        var k = start
        // Branch-free: which run holds the next id is unpredictable.
        while i < a.upperBound && j < b.upperBound {
            let x = pa[i]
            let y = pb[j]
            out[k] = min(x, y)
            i &+= x <= y ? 1 : 0
            j &+= y <= x ? 1 : 0
            k &+= 1
        }
        while i < a.upperBound {
            out[k] = pa[i]
            i &+= 1
            k &+= 1
        }
        while j < b.upperBound {
            out[k] = pb[j]
            j &+= 1
            k &+= 1
        }
        return k
    }
}
