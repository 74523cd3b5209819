/// A value read from a BSON document: the types the event store and rollups use. Others are
/// skipped when their size is known, and stop the reading when it is not.
public enum BSONValue {
    /// A UTF-8 string (invalid UTF-8 is repaired).
    case string(String)
    /// An int32 or int64.
    case int(Int64)
    /// A double.
    case double(Double)
    /// A boolean.
    case bool(Bool)
    /// A UTC datetime, Unix milliseconds.
    case date(Int64)
    /// An embedded document or array, to be read with its own reader.
    case document(BSONReader)
    /// Binary data.
    case binary(ArraySlice<UInt8>)
    /// Null, or a type this reader does not decode.
    case other

    /// The value as text when it is one: strings as they are, numbers and booleans spelled.
    public var text: String? {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .double(let value): value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .bool(let value): value ? "true" : "false"
        default: nil
        }
    }

    /// The value as an integer when it is a number.
    public var int: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.isFinite && abs(value) < 9e18: Int64(value)
        case .date(let value): value
        default: nil
        }
    }
}

/// Walks the elements of one BSON document held in bytes, bounds-checked: a malformed
/// document ends the walk, it never traps.
public struct BSONReader: Sequence {
    /// The document's bytes, its length prefix included.
    let bytes: ArraySlice<UInt8>

    /// A reader over `bytes`, a whole BSON document.
    public init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    /// An iterator over `(key, value)`.
    public func makeIterator() -> Iterator { Iterator(bytes: bytes) }

    /// The elements in order.
    public struct Iterator: IteratorProtocol {
        let bytes: ArraySlice<UInt8>
        var position: Int
        let end: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            let declared = Self.int32(bytes, at: bytes.startIndex).map(Int.init) ?? 0
            position = bytes.startIndex + 4
            end = declared >= 5 && declared <= bytes.count ? bytes.startIndex + declared - 1 : bytes.startIndex
        }

        /// The next element, or nil at the end or at the first malformed byte.
        public mutating func next() -> (key: String, value: BSONValue)? {
            guard position < end else { return nil }
            let type = bytes[position]
            guard let keyEnd = bytes[(position + 1)..<end].firstIndex(of: 0) else { return stop() }
            let key = String(decoding: bytes[(position + 1)..<keyEnd], as: UTF8.self)
            var cursor = keyEnd + 1
            let value: BSONValue
            switch type {
            case 0x01, 0x09, 0x11, 0x12:
                guard let raw = Self.int64(bytes, at: cursor, end: end) else { return stop() }
                value = type == 0x01 ? .double(Double(bitPattern: UInt64(bitPattern: raw))) : type == 0x09 ? .date(raw) : .int(raw)
                cursor += 8
            case 0x02:
                guard let length = Self.int32(bytes, at: cursor), length >= 1, cursor + 4 + Int(length) <= end else { return stop() }
                value = .string(String(decoding: bytes[(cursor + 4)..<(cursor + 4 + Int(length) - 1)], as: UTF8.self))
                cursor += 4 + Int(length)
            case 0x03, 0x04:
                guard let length = Self.int32(bytes, at: cursor), length >= 5, cursor + Int(length) <= end else { return stop() }
                value = .document(BSONReader(bytes[cursor..<(cursor + Int(length))]))
                cursor += Int(length)
            case 0x05:
                guard let length = Self.int32(bytes, at: cursor), length >= 0, cursor + 5 + Int(length) <= end else { return stop() }
                value = .binary(bytes[(cursor + 5)..<(cursor + 5 + Int(length))])
                cursor += 5 + Int(length)
            case 0x07:
                value = .other
                cursor += 12
            case 0x08:
                guard cursor < end else { return stop() }
                value = .bool(bytes[cursor] != 0)
                cursor += 1
            case 0x0A, 0x06, 0xFF, 0x7F:
                value = .other
            case 0x10:
                guard let raw = Self.int32(bytes, at: cursor), cursor + 4 <= end else { return stop() }
                value = .int(Int64(raw))
                cursor += 4
            case 0x13:
                value = .other
                cursor += 16
            default:
                return stop()
            }
            guard cursor <= end else { return stop() }
            position = cursor
            return (key, value)
        }

        private mutating func stop() -> (key: String, value: BSONValue)? {
            position = end
            return nil
        }

        static func int32(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int32? {
            guard index >= bytes.startIndex, index + 4 <= bytes.endIndex else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 { value |= UInt32(bytes[index + offset]) << (8 * offset) }
            return Int32(bitPattern: value)
        }

        static func int64(_ bytes: ArraySlice<UInt8>, at index: Int, end: Int) -> Int64? {
            guard index >= bytes.startIndex, index + 8 <= end else { return nil }
            var value: UInt64 = 0
            for offset in 0..<8 { value |= UInt64(bytes[index + offset]) << (8 * offset) }
            return Int64(bitPattern: value)
        }
    }
}
