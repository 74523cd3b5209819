/// One Redis command as binary-safe arguments, the command name first.
public struct RedisCommand: Sendable, Equatable {
    /// The arguments, each sent as-is with its length.
    public var arguments: [[UInt8]]

    /// A command from raw byte arguments.
    public init(arguments: [[UInt8]]) {
        self.arguments = arguments
    }

    /// A command from text arguments.
    public init(_ name: String, _ arguments: String...) {
        self.arguments = [Array(name.utf8)] + arguments.map { Array($0.utf8) }
    }

    /// A command from a name, text arguments and byte values (e.g. `LPUSH key v1 v2 …`).
    public init(_ name: String, _ arguments: [String], values: [[UInt8]] = []) {
        self.arguments = [Array(name.utf8)] + arguments.map { Array($0.utf8) } + values
    }
}
