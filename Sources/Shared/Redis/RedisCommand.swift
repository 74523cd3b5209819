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

extension RedisCommand {
    /// The command's name in capitals (`""` for an empty command): what the tables below hold.
    var name: String {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
    }

    /// True when the command leaves its connection as it found it, promptly: it may share a
    /// pipelined connection with other callers' commands. Not empty; not blocking (it would
    /// hold every caller behind it); not one that changes the connection's database,
    /// transaction, subscriptions, protocol or replies for whoever comes next.
    var canShareConnection: Bool {
        let name = name
        if name == "CLIENT" {
            return arguments.dropFirst().first.map { Self.shareableClientCommands.contains(String(decoding: $0, as: UTF8.self).uppercased()) } ?? false
        }
        return !name.isEmpty && !Self.unshareable.contains(name)
    }

    /// Commands that block or change their connection.
    static let unshareable: Set<String> = [
        "BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF", "XREAD", "XREADGROUP",
        "SELECT", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE",
        "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "HELLO", "RESET", "QUIT", "AUTH", "SYNC", "PSYNC",
        "READONLY", "READWRITE", "ASKING", "DEBUG",
    ]

    /// `CLIENT` subcommands that leave the connection as it was (the rest, `REPLY`, `SETNAME`,
    /// `TRACKING`, `NO-EVICT`, … and any added later, keep the pool). Not `KILL`: it may kill
    /// the connection it is sent on, failing every other caller's command in flight there.
    static let shareableClientCommands: Set<String> = ["ID", "INFO", "GETNAME", "LIST", "PAUSE", "UNPAUSE"]
}
