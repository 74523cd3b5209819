/// Numbers: the grammar checked as they are read, and read as `JSONDecoder` reads them.
extension JSONReader {
    /// Reads a number, as `JSONDecoder` reads one into `Int64` first and `Double` second:
    /// `.int` when it is an integer exactly (`3`, `3.0`, `3e0`), else `.double`; nil (nothing
    /// read) when the next value is another kind; `.outOfRange` past `Double`'s range.
    public mutating func readNumber() throws(JSONReadError) -> JSONNumber? {
        guard try peek() == .number else { return nil }
        let start = offset
        let integral = try scanNumber()
        let text = UnsafeBufferPointer(rebasing: bytes[start..<offset])
        if integral, let value = Self.integer(text) { return .int(value) }
        guard let double = Double(String(decoding: text, as: UTF8.self)), double.isFinite else { return .outOfRange }
        // Past 2^53 a double no longer tells integers apart: an integer too long for Int64 stays a double.
        if !integral, abs(double) < 9_007_199_254_740_992, double.rounded(.towardZero) == double { return .int(Int64(double)) }
        return .double(double)
    }

    /// Reads an integer (`3`, `3.0`); nil (nothing read) when the next value is not a number,
    /// an error when it is one but not an integer `Int64` holds.
    public mutating func readInt64() throws(JSONReadError) -> Int64? {
        let start = offset
        switch try readNumber() {
        case .int(let value): return value
        case .double, .outOfRange: throw JSONReadError(message: "expected an integer within 64 bits", offset: start)
        case nil: return nil
        }
    }

    /// Moves past a number checked against the grammar; true when it has no fraction or exponent.
    mutating func scanNumber() throws(JSONReadError) -> Bool {
        var integral = true
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw unexpected("a digit") }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
        } else {
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            integral = false
            offset += 1
            try digits()
        }
        if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
            integral = false
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            try digits()
        }
        return integral
    }

    /// Digits (after an optional `-`) to `Int64`, nil on overflow.
    private static func integer(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { index = 1 }
        var magnitude: UInt64 = 0
        while index < text.count {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(text[index] &- UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    mutating func digits() throws(JSONReadError) {
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw unexpected("a digit") }
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
    }
}

/// A JSON number, read as `JSONDecoder` would read it into `Int64` first and `Double` second.
public enum JSONNumber: Sendable, Equatable {
    /// An integer exactly, within `Int64`.
    case int(Int64)
    /// Anything else, finite.
    case double(Double)
    /// Grammatical, but past `Double`'s range (`1e400`).
    case outOfRange
}
