/// The stored form of a sketch. The first byte names the format (and is its version):
///
/// | tag | body |
/// | --- | --- |
/// | 1 exact | count (UInt32 LE), then `count` ids (UInt64 LE), strictly increasing |
/// | 2 dense HyperLogLog | 65,536 registers packed 6 bits each (4 in 3 bytes, LE): 49,152 bytes |
/// | 3 sparse HyperLogLog | count (UInt32 LE), then `count` × (register index UInt16 LE, value UInt8), indices strictly increasing, values 1...49 |
///
/// `encoded()` writes exact up to `exactLimit` ids, otherwise the smaller HyperLogLog form.
extension VisitorSketch {
    static let exactTag: UInt8 = 1
    static let denseTag: UInt8 = 2
    static let sparseTag: UInt8 = 3
    /// Bytes of the packed registers of a dense HyperLogLog.
    static let denseBodySize = HyperLogLog.registerCount / 4 * 3

    /// The compact binary form; `init?(encoded:)` reads it back.
    public func encoded() -> [UInt8] {
        var sketch = folded()
        if sketch.registers.isEmpty && sketch.sorted.count <= Self.exactLimit {
            var out: [UInt8] = [Self.exactTag]
            out.reserveCapacity(5 + 8 * sketch.sorted.count)
            Self.append(UInt32(sketch.sorted.count), to: &out)
            for id in sketch.sorted { Self.append(id, to: &out) }
            return out
        }
        sketch.switchToHyperLogLog()
        let registers = sketch.registers
        let used = registers.reduce(0) { $0 + ($1 == 0 ? 0 : 1) }
        if 4 + 3 * used < Self.denseBodySize {
            var out: [UInt8] = [Self.sparseTag]
            out.reserveCapacity(5 + 3 * used)
            Self.append(UInt32(used), to: &out)
            for (index, value) in registers.enumerated() where value != 0 {
                out.append(UInt8(truncatingIfNeeded: index))
                out.append(UInt8(truncatingIfNeeded: index >> 8))
                out.append(value)
            }
            return out
        }
        var out: [UInt8] = [Self.denseTag]
        out.reserveCapacity(1 + Self.denseBodySize)
        var index = 0
        while index < registers.count {
            let packed = UInt32(registers[index]) | UInt32(registers[index + 1]) << 6
                | UInt32(registers[index + 2]) << 12 | UInt32(registers[index + 3]) << 18
            out.append(UInt8(truncatingIfNeeded: packed))
            out.append(UInt8(truncatingIfNeeded: packed >> 8))
            out.append(UInt8(truncatingIfNeeded: packed >> 16))
            index += 4
        }
        return out
    }

    /// Reads `encoded()`'s form; nil for anything malformed (unknown tag, wrong size, ids out
    /// of order or repeated, registers out of range). Never traps, whatever the bytes.
    public init?(encoded bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        guard let tag = bytes.first else { return nil }
        self.init()
        switch tag {
        case Self.exactTag:
            guard Self.isValid(encoded: bytes[...]) else { return nil }
            merge(encoded: bytes[...])
        case Self.denseTag:
            guard bytes.count == 1 + Self.denseBodySize else { return nil }
            var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            var offset = 1
            var index = 0
            while index < registers.count {
                let packed = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
                for lane in 0..<4 {
                    let value = UInt8(truncatingIfNeeded: packed >> UInt32(6 * lane)) & 0x3F
                    guard value <= HyperLogLog.maxRank else { return nil }
                    registers[index + lane] = value
                }
                offset += 3
                index += 4
            }
            self.registers = registers
        case Self.sparseTag:
            guard let count = Self.readCount(bytes[...]), count <= HyperLogLog.registerCount, bytes.count == 5 + 3 * count else {
                return nil
            }
            var registers = [UInt8](repeating: 0, count: HyperLogLog.registerCount)
            var previous = -1
            var offset = 5
            for _ in 0..<count {
                let index = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                let value = bytes[offset + 2]
                guard index > previous, (1...HyperLogLog.maxRank).contains(value) else { return nil }
                registers[index] = value
                previous = index
                offset += 3
            }
            self.registers = registers
        default:
            return nil
        }
    }

    private static func append(_ value: UInt32, to out: inout [UInt8]) {
        for shift in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * shift))) }
    }

    private static func append(_ value: UInt64, to out: inout [UInt8]) {
        for shift in 0..<8 { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * shift))) }
    }
}

// MARK: Merging stored sketches without building them

extension VisitorSketch {
    /// True when `bytes` is a well-formed `encoded()` form.
    static func isValid(encoded bytes: ArraySlice<UInt8>) -> Bool {
        checked(encoded: bytes) != nil
    }

    /// A stored sketch that passed `checked(encoded:)`.
    enum Checked {
        /// Exact ids, checked without building a sketch: merged later from their bytes.
        case exact
        /// A dense or sparse sketch (a large hour), built to check it: kept, so the merge does
        /// not build it again.
        case built(VisitorSketch)
    }

    /// Checks `bytes` as an `encoded()` form; nil when malformed.
    static func checked(encoded bytes: ArraySlice<UInt8>) -> Checked? {
        guard let tag = bytes.first else { return nil }
        switch tag {
        case exactTag:
            guard let count = readCount(bytes), count <= mergeLimit, bytes.count == 5 + 8 * count else { return nil }
            var previous: UInt64?
            var offset = bytes.startIndex + 5
            for _ in 0..<count {
                let id = readID(bytes, at: offset)
                if let previous, previous >= id { return nil }
                previous = id
                offset += 8
            }
            return .exact
        case denseTag, sparseTag:
            return VisitorSketch(encoded: bytes).map(Checked.built)  // rare (large hours): built to check
        default:
            return nil
        }
    }

    /// Adds the visitors of a sketch stored as `bytes`, which `isValid(encoded:)` accepted:
    /// exact ids become one sorted run, with no sketch built per stored cell.
    mutating func merge(encoded bytes: ArraySlice<UInt8>) {
        guard bytes.first == Self.exactTag, registers.isEmpty, let count = Self.readCount(bytes), bytes.count == 5 + 8 * count else {
            if let other = VisitorSketch(encoded: bytes) { merge(other) }
            return
        }
        guard count > 0 else { return }
        let first = bytes.startIndex + 5
        let ids = [UInt64](unsafeUninitializedCapacity: count) { buffer, written in
            for index in 0..<count { buffer[index] = Self.readID(bytes, at: first + 8 * index) }
            written = count
        }
        if sorted.isEmpty && pendingCount == 0 {
            sorted = ids
            return
        }
        // A sorted run: folded by merging (cheaper than sorting loose ids, measured).
        runs.append(ids)
        pendingCount += count
        foldIfDue()
    }

    /// The UInt32 LE count after the tag, or nil when the bytes are too short.
    private static func readCount(_ bytes: ArraySlice<UInt8>) -> Int? {
        guard bytes.count >= 5 else { return nil }
        let start = bytes.startIndex
        return (1...4).reduce(0) { $0 | Int(bytes[start + $1]) << (8 * ($1 - 1)) }
    }

    /// The UInt64 LE at `offset` (which the caller has checked lies 8 bytes inside `bytes`).
    private static func readID(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        var id: UInt64 = 0
        for shift in 0..<8 { id |= UInt64(bytes[offset + shift]) << UInt64(8 * shift) }
        return id
    }
}
