/// A strict JSON (RFC 8259) reader that pulls one value at a time from UTF-8 bytes, for the
/// hot paths: ingest reads each request body with it, the worker each queued payload. It
/// builds no tree and allocates only the strings it returns (none for short ASCII ones).
///
/// Everything is checked: the grammar, UTF-8 in strings, escapes (an unpaired surrogate is an
/// error), control bytes, nesting depth (`maxDepth`) and trailing bytes. Foundation's
/// `JSONDecoder` cost 8 µs of the 90 µs a `POST /event` took, and a third of the worker's
/// CPU (profiles in BENCHMARKS.md, section 12).
///
/// Objects are read with `beginObject`/`readKey`/`nextMember`, arrays with
/// `beginArray`/`nextElement`:
/// ```swift
/// if try reader.beginObject() {
///     repeat {
///         let key = try reader.readKey()
///         try reader.skipValue()
///     } while try reader.nextMember()
/// }
/// ```
public struct JSONReader: ~Copyable {
    /// What a value is, from its first byte.
    public enum Kind: Sendable, Equatable {
        /// `{`
        case object
        /// `[`
        case array
        /// `"`
        case string
        /// `-` or a digit
        case number
        /// `true` or `false`
        case bool
        /// `null`
        case null
    }

    /// Deepest nesting of objects and arrays read (JSONDecoder allows 512; an event needs 2).
    public static let maxDepth = 64

    private let bytes: UnsafeBufferPointer<UInt8>
    private var offset = 0
    /// The byte offset of the next value (or whitespace before it).
    public var position: Int { offset }
    private var depth = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Runs `body` on a reader over `input`, then checks that only whitespace follows what it read.
    public static func read<T, Input: Collection<UInt8>>(
        _ input: Input, _ body: (inout JSONReader) throws(JSONReadError) -> T
    ) throws(JSONReadError) -> T {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<T, JSONReadError> {
            var reader = JSONReader(buffer)
            do throws(JSONReadError) {
                let value = try body(&reader)
                reader.skipWhitespace()
                guard reader.offset == buffer.count else { throw reader.unexpected("the end of the input") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        let result = input.withContiguousStorageIfAvailable(run) ?? Array(input).withUnsafeBufferPointer(run)
        return try result.get()
    }

    // MARK: Peeking and scalars

    /// The kind of the next value, after skipping whitespace; an error at the end of the input
    /// or before a byte no value starts with.
    public mutating func peek() throws(JSONReadError) -> Kind {
        skipWhitespace()
        guard offset < bytes.count else { throw unexpected("a value") }
        switch bytes[offset] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw unexpected("a value")
        }
    }

    /// Reads `null`, returning true, or returns false and reads nothing.
    public mutating func readNull() throws(JSONReadError) -> Bool {
        guard try peek() == .null else { return false }
        try literal("null")
        return true
    }

    /// Reads `true` or `false`; nil (nothing read) when the next value is another kind.
    public mutating func readBool() throws(JSONReadError) -> Bool? {
        guard try peek() == .bool else { return nil }
        if bytes[offset] == UInt8(ascii: "t") {
            try literal("true")
            return true
        }
        try literal("false")
        return false
    }

    /// Reads a string; nil (nothing read) when the next value is another kind.
    public mutating func readString() throws(JSONReadError) -> String? {
        guard try peek() == .string else { return nil }
        return try string()
    }

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
    private mutating func scanNumber() throws(JSONReadError) -> Bool {
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

    // MARK: Objects and arrays

    /// Reads `{`; true when a member follows (read it with `readKey`), false for `{}` (all read).
    public mutating func beginObject() throws(JSONReadError) -> Bool {
        try open(UInt8(ascii: "{"), close: UInt8(ascii: "}"), "an object")
    }

    /// Reads a member's key and its colon; the value is next.
    public mutating func readKey() throws(JSONReadError) -> String {
        skipWhitespace()
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw unexpected("a key in quotes") }
        let key = try string()
        skipWhitespace()
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw unexpected("':' after a key") }
        offset += 1
        return key
    }

    /// After a member's value: true when another member follows, false at the object's end (read).
    public mutating func nextMember() throws(JSONReadError) -> Bool {
        try next(close: UInt8(ascii: "}"), "',' or '}' after a member")
    }

    /// Reads `[`; true when an element follows, false for `[]` (all read).
    public mutating func beginArray() throws(JSONReadError) -> Bool {
        try open(UInt8(ascii: "["), close: UInt8(ascii: "]"), "an array")
    }

    /// After an element: true when another follows, false at the array's end (read).
    public mutating func nextElement() throws(JSONReadError) -> Bool {
        try next(close: UInt8(ascii: "]"), "',' or ']' after an element")
    }

    /// Reads and checks a value of any kind, keeping nothing of it.
    public mutating func skipValue() throws(JSONReadError) {
        switch try peek() {
        case .object:
            if try beginObject() {
                repeat {
                    _ = try readKey()
                    try skipValue()
                } while try nextMember()
            }
        case .array:
            if try beginArray() {
                repeat { try skipValue() } while try nextElement()
            }
        case .string: _ = try string()
        case .number: _ = try scanNumber()
        case .bool: _ = try readBool()
        case .null: _ = try readNull()
        }
    }

    // MARK: Internals

    private mutating func open(_ byte: UInt8, close: UInt8, _ what: String) throws(JSONReadError) -> Bool {
        skipWhitespace()
        guard offset < bytes.count, bytes[offset] == byte else { throw unexpected(what) }
        guard depth < Self.maxDepth else { throw JSONReadError(message: "nested more than \(Self.maxDepth) deep", offset: offset) }
        offset += 1
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == close {
            offset += 1
            return false
        }
        depth += 1
        return true
    }

    private mutating func next(close: UInt8, _ what: String) throws(JSONReadError) -> Bool {
        skipWhitespace()
        guard offset < bytes.count else { throw unexpected(what) }
        switch bytes[offset] {
        case UInt8(ascii: ","):
            offset += 1
            return true
        case close:
            offset += 1
            depth -= 1
            return false
        default:
            throw unexpected(what)
        }
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONReadError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - offset >= count else { throw unexpected("\(word)") }
        for index in 0..<count where bytes[offset + index] != word.utf8Start[index] {
            offset += index
            throw unexpected("\(word)")
        }
        offset += count
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    private mutating func digits() throws(JSONReadError) {
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw unexpected("a digit") }
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
    }

    /// The string starting at the current `"`: plain runs are taken whole, escapes decoded.
    private mutating func string() throws(JSONReadError) -> String {
        offset += 1  // the opening quote
        let start = offset
        var ascii = true
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                let run = UnsafeBufferPointer(rebasing: bytes[start..<offset])
                offset += 1
                if ascii { return String(decoding: run, as: UTF8.self) }
                guard let text = String(validating: run, as: UTF8.self) else {
                    throw JSONReadError(message: "a string is not valid UTF-8", offset: start)
                }
                return text
            }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw JSONReadError(message: "a control byte inside a string", offset: offset) }
            if byte >= 0x80 { ascii = false }
            offset += 1
        }
        throw unexpected("the end of a string")
    }

    /// The slow path: a string holding escapes, decoded into a buffer from `start`.
    private mutating func escapedString(from start: Int) throws(JSONReadError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(offset - start + 16)
        out.append(contentsOf: bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                guard let text = String(validating: out, as: UTF8.self) else {
                    throw JSONReadError(message: "a string is not valid UTF-8", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                offset += 1
                guard offset < bytes.count else { throw unexpected("an escape") }
                let escape = bytes[offset]
                offset += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): try unicodeEscape(into: &out)
                default:
                    offset -= 1
                    throw unexpected("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                }
            case 0..<0x20:
                throw JSONReadError(message: "a control byte inside a string", offset: offset)
            default:
                out.append(byte)
                offset += 1
            }
        }
        throw unexpected("the end of a string")
    }

    /// `\uXXXX` (after the `u`), a surrogate pair taking two; appended as UTF-8.
    private mutating func unicodeEscape(into out: inout [UInt8]) throws(JSONReadError) {
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
            guard bytes.count - offset >= 2, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                throw JSONReadError(message: "an unpaired surrogate escape", offset: offset)
            }
            offset += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw JSONReadError(message: "an unpaired surrogate escape", offset: offset) }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
            throw JSONReadError(message: "an unpaired surrogate escape", offset: offset)
        }
        // Four-byte UTF-8 for what a pair made, fewer below: never a surrogate, never past U+10FFFF.
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    private mutating func hex4() throws(JSONReadError) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw unexpected("four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw unexpected("four hex digits")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// "expected X at byte N, found Y".
    private func unexpected(_ expected: String) -> JSONReadError {
        guard offset < bytes.count else { return JSONReadError(message: "expected \(expected), found the end of the input", offset: offset) }
        let byte = bytes[offset]
        let found = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return JSONReadError(message: "expected \(expected), found \(found)", offset: offset)
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

/// Why bytes are not the JSON a reader expected: what was wrong and where.
public struct JSONReadError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    public var message: String
    /// The byte offset it was found at.
    public var offset: Int

    /// "<message> at byte <offset>".
    public var description: String { "\(message) at byte \(offset)" }
}
