import Foundation

/// HyperLogLog with 2^16 one-byte registers, over 64-bit hashes, estimated with Ertl's improved
/// estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017, algorithm
/// 6; the one Redis uses). It needs no bias tables and no switch to linear counting: its σ term
/// is linear counting's correction for empty registers and its τ term corrects saturated ones,
/// so it is unbiased from a handful of ids to billions.
enum HyperLogLog {
    /// Index bits.
    static let precision = 16
    /// Registers: 65,536.
    static let registerCount = 1 << precision
    /// Hash bits left for the rank: 48.
    static let rankBits = 64 - precision
    /// The largest register value: a rank of 48 zero bits plus one.
    static let maxRank = UInt8(rankBits + 1)

    /// splitmix64's finaliser: visitor ids are already keyed hashes, but sequential or
    /// low-entropy ids (tests, old data) must not skew the registers. A bijection, so distinct
    /// ids stay distinct.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Records `id` in `registers` (which must hold `registerCount` registers).
    static func insert(_ id: UInt64, into registers: inout [UInt8]) {
        let hash = mix(id)
        let index = Int(hash >> UInt64(rankBits))
        let rest = hash << UInt64(precision)  // the low 48 bits, at the top
        let rank = UInt8(min(rest.leadingZeroBitCount, rankBits) + 1)
        if registers[index] < rank { registers[index] = rank }
    }

    /// Sets each register of `registers` to the larger of it and `other`'s.
    static func maximize(_ registers: inout [UInt8], with other: [UInt8]) {
        registers.withUnsafeMutableBufferPointer { mine in
            other.withUnsafeBufferPointer { theirs in
                for index in 0..<min(mine.count, theirs.count) {
                    mine[index] = max(mine[index], theirs[index])  // branch-free, vectorised
                }
            }
        }
    }

    /// The cardinality estimate of `registers`.
    static func estimate(_ registers: [UInt8]) -> Int {
        // Four interleaved histograms: consecutive registers often share a value, and one
        // histogram would serialise on its counter.
        var counts = [Int](repeating: 0, count: 4 * 64)
        counts.withUnsafeMutableBufferPointer { counts in
            registers.withUnsafeBufferPointer { values in
                var index = 0
                while index + 4 <= values.count {
                    counts[Int(values[index] & 63)] &+= 1
                    counts[64 + Int(values[index + 1] & 63)] &+= 1
                    counts[128 + Int(values[index + 2] & 63)] &+= 1
                    counts[192 + Int(values[index + 3] & 63)] &+= 1
                    index += 4
                }
                while index < values.count {
                    counts[Int(values[index] & 63)] &+= 1
                    index += 1
                }
            }
        }
        var histogram = [Int](repeating: 0, count: Int(maxRank) + 1)
        for value in 0..<64 {
            histogram[min(value, Int(maxRank))] += counts[value] + counts[64 + value] + counts[128 + value] + counts[192 + value]
        }
        let m = Double(registerCount)
        var z = m * tau((m - Double(histogram[rankBits + 1])) / m)
        for k in stride(from: rankBits, through: 1, by: -1) {
            z = 0.5 * (z + Double(histogram[k]))
        }
        z += m * sigma(Double(histogram[0]) / m)
        guard z.isFinite, z > 0 else { return 0 }  // every register empty: σ(1) is infinite
        let alphaInfinity = 1 / (2 * log(2.0))
        return Int((alphaInfinity * m * m / z).rounded())
    }

    /// Ertl's σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k-1); infinite at 1.
    static func sigma(_ x: Double) -> Double {
        guard x < 1 else { return .infinity }
        var x = x
        var y = 1.0
        var z = x
        while true {
            x *= x
            let previous = z
            z += x * y
            y += y
            if z == previous { return z }
        }
    }

    /// Ertl's τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k) / 3; 0 at 0 and 1.
    static func tau(_ x: Double) -> Double {
        guard x > 0, x < 1 else { return 0 }
        var x = x
        var y = 1.0
        var z = 1 - x
        while true {
            x = x.squareRoot()
            let previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == previous { return z / 3 }
        }
    }
}
