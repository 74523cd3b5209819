/// Client input read field by field: the first problem is kept, reading never throws for a
/// bad field (so a batch reports each element on its own).
protocol FieldByFieldInput {
    /// The first problem found while reading.
    var problem: ValidationError? { get set }
}

extension FieldByFieldInput {
    /// Keeps `error` unless a problem was already found.
    mutating func note(_ error: @autoclosure () -> ValidationError) {
        if problem == nil { problem = error() }
    }

    /// Reads the `{` of the event's object: true when a member follows. A value that is not an
    /// object is noted and read past.
    mutating func beginEvent(_ reader: inout JSONReader) throws(JSONReadError) -> Bool {
        guard try reader.peek() == .object else {
            note(ValidationError(message: "an event must be a JSON object"))
            try reader.skipValue()
            return false
        }
        return try reader.beginObject()
    }

    /// The string at the reader, nil for `null`; any other value is noted and read past.
    mutating func optionalString(_ reader: inout JSONReader, _ key: String) throws(JSONReadError) -> String? {
        if let string = try reader.readString() { return string }
        if try !reader.readNull() {
            note(.field(key, "must be a string"))
            try reader.skipValue()
        }
        return nil
    }
}

/// The fields an input has read, one bit each: a field named twice keeps its first value, as
/// JSONDecoder had it.
struct SeenFields {
    private var bits: UInt8 = 0

    /// True the first time `bit` comes; after that the member's value is read past and false returned.
    mutating func first(_ bit: UInt8, _ reader: inout JSONReader) throws(JSONReadError) -> Bool {
        guard bits & bit == 0 else {
            try reader.skipValue()
            return false
        }
        bits |= bit
        return true
    }
}

/// A props object's members, read the same way for `POST /event` and `POST /api/event`.
enum PropsObject {
    /// Most members kept: one past `EventValidator.maxPropsKeys`, so the rules refuse the count
    /// while the rest is only read past (thousands of keys are not compared pairwise).
    static let keptMembers = EventValidator.maxPropsKeys + 1

    /// Reads the object at the reader (its `{` next): the string, number and boolean members, a
    /// repeated key keeping its first such value, and their size as JSON. Any other value is read
    /// past and its key handed to `nonScalar`.
    static func read(
        _ reader: inout JSONReader, nonScalar: (String) -> Void
    ) throws(JSONReadError) -> (members: [(key: String, value: PropValue)], jsonBytes: Int) {
        var members: [(key: String, value: PropValue)] = []
        var bytes = 2
        if try reader.beginObject() {
            repeat {
                let key = try reader.readKey()
                guard members.count < keptMembers, !members.contains(where: { $0.key == key }) else {
                    try reader.skipValue()
                    continue
                }
                guard let value = try PropValue(reading: &reader) else {
                    nonScalar(key)
                    continue
                }
                members.append((key, value))
                bytes += key.utf8.count + 4 + value.approximateJSONBytes
            } while try reader.nextMember()
        }
        return (members, bytes)
    }
}
