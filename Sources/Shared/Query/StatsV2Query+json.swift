import Foundation

/// A JSON value of a v2 query body, read with `JSONDecoder` (the hot paths, `/event`, `/events`
/// and queued payloads, use `JSONReader`) and a bounded depth: a client's nesting never turns into deep recursion here.
public indirect enum StatsQueryJSON: Sendable, Equatable, Decodable {
    /// null.
    case null
    /// true or false.
    case bool(Bool)
    /// A number written without a fraction that fits an `Int`.
    case int(Int)
    /// Any other number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([StatsQueryJSON])
    /// An object (key order is not kept; a repeated key keeps one value).
    case object([String: StatsQueryJSON])

    /// Deepest nesting read, in JSON levels (a filter tree of `Filter.maxDepth` needs about 20).
    public static let maxDepth = 32
    /// Largest body read, in bytes.
    public static let maxBodyBytes = 65_536

    /// Reads `body`; a 400 naming the problem when it is not JSON, too deep or too large.
    public static func parse(_ body: [UInt8]) throws(StatsAPIError) -> StatsQueryJSON {
        guard body.count <= maxBodyBytes else { throw StatsAPIError("Invalid request body: at most \(maxBodyBytes) bytes are accepted.", status: 413) }
        do {
            return try JSONDecoder().decode(StatsQueryJSON.self, from: Data(body))
        } catch let error as DepthError {
            throw StatsAPIError("Invalid request body: JSON nested deeper than \(error.limit) levels.")
        } catch {
            throw StatsAPIError("Invalid request body: it must be a JSON object (\(describe(error))).")
        }
    }

    /// Decodes any JSON value, refusing nesting past `maxDepth`.
    public init(from decoder: any Decoder) throws {
        guard decoder.codingPath.count <= Self.maxDepth else { throw DepthError(limit: Self.maxDepth) }
        if let single = try? decoder.singleValueContainer() {
            if single.decodeNil() {
                self = .null
                return
            }
            if let value = try? single.decode(Bool.self) {
                self = .bool(value)
                return
            }
            if let value = try? single.decode(Int.self) {
                self = .int(value)
                return
            }
            if let value = try? single.decode(Double.self) {
                self = .number(value)
                return
            }
            if let value = try? single.decode(String.self) {
                self = .string(value)
                return
            }
        }
        if var items = try? decoder.unkeyedContainer() {
            var values: [StatsQueryJSON] = []
            while !items.isAtEnd { values.append(try items.decode(StatsQueryJSON.self)) }
            self = .array(values)
            return
        }
        let members = try decoder.container(keyedBy: StatsQueryKey.self)
        var object: [String: StatsQueryJSON] = [:]
        for key in members.allKeys { object[key.stringValue] = try members.decode(StatsQueryJSON.self, forKey: key) }
        self = .object(object)
    }

    /// The value as written back in an answer (`query` echoes parts of the request).
    public var json: JSONValue {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): .int(value)
        case .number(let value): .double(value)
        case .string(let value): .string(value)
        case .array(let items): .array(items.map(\.json))
        case .object(let members): .object(members.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) })
        }
    }

    /// The value for an error message: compact JSON, at most 100 characters.
    var quoted: String {
        let text = json.serialized
        return text.count > 100 ? String(text.prefix(100)) + "…" : text
    }

    /// The string, if this is one.
    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The items, if this is an array.
    var array: [StatsQueryJSON]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A decoding failure in a few words, without Swift's type dump.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            return detail.count > 200 ? String(detail.prefix(200)) + "…" : detail
        case DecodingError.typeMismatch, DecodingError.valueNotFound, DecodingError.keyNotFound: return "unexpected value"
        default: return "not JSON"
        }
    }

    /// Thrown past `maxDepth`.
    private struct DepthError: Error {
        var limit: Int
    }
}

/// Any object key.
private struct StatsQueryKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
