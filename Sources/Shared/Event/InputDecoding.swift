/// Client input decoded field by field: the first problem is kept, decoding never throws for a
/// bad field (so a batch reports each element on its own).
protocol FieldByFieldInput {
    /// The first problem found while decoding.
    var problem: ValidationError? { get set }
}

extension FieldByFieldInput {
    /// Keeps `error` unless a problem was already found.
    mutating func note(_ error: @autoclosure () -> ValidationError) {
        if problem == nil { problem = error() }
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
