import Foundation

/// The process environment merged over an optional `.env` file; real variables win.
public struct Environment: Sendable {
    /// The merged variables.
    public let values: [String: String]

    /// Creates an environment from explicit values (tests use this).
    public init(_ values: [String: String]) {
        self.values = values
    }

    /// Reads `ProcessInfo`'s environment over the `.env` file at `dotEnvPath`, if it exists.
    public static func load(dotEnvPath: String = ".env") -> Environment {
        var merged: [String: String] = [:]
        if let text = try? String(contentsOfFile: dotEnvPath, encoding: .utf8) {
            merged = parseDotEnv(text)
        }
        merged.merge(ProcessInfo.processInfo.environment) { _, real in real }
        return Environment(merged)
    }

    /// Parses `KEY=value` lines; `#` comments, `export` prefixes and matching quotes are allowed.
    public static func parseDotEnv(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            result[key] = value
        }
        return result
    }

    /// The value of `key`, or nil when unset or empty.
    public subscript(_ key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    /// An integer setting, `defaultValue` when unset; a malformed value is a configuration error.
    public func int(_ key: String, default defaultValue: Int) throws(ConfigurationError) -> Int {
        guard let text = self[key] else { return defaultValue }
        guard let value = Int(text) else { throw .invalid(key: key, value: text, expected: "an integer") }
        return value
    }

    /// An integer setting that must lie in `range`, `defaultValue` when unset; a malformed or
    /// out-of-range value is a configuration error naming `key` and the range.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let value = try int(key, default: defaultValue)
        guard range.contains(value) else {
            throw .invalid(key: key, value: String(value), expected: "from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    /// A yes/no setting (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, any case), `defaultValue` when unset.
    public func bool(_ key: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let text = self[key] else { return defaultValue }
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw .invalid(key: key, value: text, expected: "true or false")
        }
    }

    /// A duration setting written as `DurationText` (`90s`, `5m`, `1h`), `defaultValue` when unset.
    public func duration(_ key: String, default defaultValue: Duration) throws(ConfigurationError) -> Duration {
        guard let text = self[key] else { return defaultValue }
        guard let value = DurationText.parse(text) else { throw .invalid(key: key, value: text, expected: "a duration such as 60s, 5m or 1h") }
        return value
    }

    /// A duration setting in milliseconds, `defaultValue` when unset.
    public func milliseconds(_ key: String, default defaultValue: Int) throws(ConfigurationError) -> Duration {
        .milliseconds(try int(key, default: defaultValue))
    }

    /// A duration setting in milliseconds that must lie in `range` (milliseconds).
    public func milliseconds(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Duration {
        .milliseconds(try int(key, default: defaultValue, in: range))
    }
}

/// A setting that cannot be used; the message names the variable and what it should hold.
public enum ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// `key` holds `value`, which is not `expected`.
    case invalid(key: String, value: String, expected: String)

    /// The message, naming the variable to fix.
    public var description: String {
        switch self {
        case .invalid(let key, let value, let expected):
            "configuration: \(key)=\(value) is not \(expected); fix the environment or .env"
        }
    }
}
