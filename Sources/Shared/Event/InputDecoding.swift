/// Any JSON object key, for inputs that read every key a client sent.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Client input decoded field by field: the first problem is kept, decoding never throws for a
/// bad field (so a batch reports each element on its own).
protocol FieldByFieldInput {
    /// The first problem found while decoding.
    var problem: ValidationError? { get set }
}

extension FieldByFieldInput {
    /// The event's JSON object, or nil with the problem noted when it is not one.
    mutating func object(_ decoder: any Decoder) -> KeyedDecodingContainer<JSONKey>? {
        guard let container = try? decoder.container(keyedBy: JSONKey.self) else {
            note(ValidationError(message: "an event must be a JSON object"))
            return nil
        }
        return container
    }

    /// Keeps `error` unless a problem was already found.
    mutating func note(_ error: @autoclosure () -> ValidationError) {
        if problem == nil { problem = error() }
    }

    /// The string at `key`, nil for `null`; a string is tried first, as nearly every field is one.
    mutating func optionalString(_ container: KeyedDecodingContainer<JSONKey>, _ key: JSONKey) -> String? {
        if let string = try? container.decode(String.self, forKey: key) { return string }
        if (try? container.decodeNil(forKey: key)) != true { note(.field(key.stringValue, "must be a string")) }
        return nil
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
