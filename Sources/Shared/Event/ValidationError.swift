/// Why an event was refused: a stable code, a message for people and the offending field.
public struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable machine-readable code, e.g. `VALIDATION_ERROR` or `INVALID_JSON`.
    public var code: String
    /// What is wrong and how to fix it.
    public var message: String
    /// The field at fault, if one is.
    public var field: String?

    /// Creates an error with an explicit code.
    public init(code: String = "VALIDATION_ERROR", message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A field that breaks a rule.
    public static func field(_ field: String, _ message: String) -> ValidationError {
        ValidationError(message: "\(field) \(message)", field: field)
    }

    /// A body that is not JSON at all.
    public static func invalidJSON(_ detail: String) -> ValidationError {
        ValidationError(code: "INVALID_JSON", message: "body is not valid JSON: \(detail)")
    }

    /// Code, field and message in one line.
    public var description: String { field.map { "\(code) (\($0)): \(message)" } ?? "\(code): \(message)" }
}
