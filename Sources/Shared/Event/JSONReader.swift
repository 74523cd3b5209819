/// A strict JSON (RFC 8259) reader that pulls one value at a time from UTF-8 bytes, for the
/// hot paths: ingest reads each request body with it, the worker each queued payload. It
/// builds no tree and allocates only the strings it returns (none for short ASCII ones).
///
/// Everything is checked: the grammar, UTF-8 in strings, escapes (an unpaired surrogate is an
/// error), control bytes, nesting depth (`maxDepth`) and trailing bytes. Foundation's
/// `JSONDecoder` cost 8 µs of the 90 µs a `POST /event` took, and a third of the worker's
/// CPU (profiles quoted in issue 14's notes; figures in BENCHMARKS.md, section 12).
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

    /// The input (valid only inside `read`).
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    /// The byte offset of the next value (or whitespace before it).
    public var position: Int { offset }
    var depth = 0

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

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONReadError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - offset >= count else { throw unexpected("\(word)") }
        for index in 0..<count where bytes[offset + index] != word.utf8Start[index] {
            offset += index
            throw unexpected("\(word)")
        }
        offset += count
    }

    /// "expected X at byte N, found Y".
    func unexpected(_ expected: String) -> JSONReadError {
        guard offset < bytes.count else { return JSONReadError(message: "expected \(expected), found the end of the input", offset: offset) }
        let byte = bytes[offset]
        let found = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
        return JSONReadError(message: "expected \(expected), found \(found)", offset: offset)
    }
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
