import Crypto

/// A Lua script run by `EVALSHA`; its SHA-1 is computed once, and the source is sent only
/// when Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
public struct RedisScript: Sendable {
    /// The Lua source.
    public let source: String
    /// The SHA-1 Redis knows the script by.
    public let sha1: String

    /// Wraps Lua source.
    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).lowercaseHex
    }

    /// The `EVALSHA` command for these keys and arguments.
    func evalsha(keys: [String], arguments: [[UInt8]]) -> RedisCommand {
        RedisCommand("EVALSHA", [sha1, String(keys.count)] + keys, values: arguments)
    }

    /// The `EVAL` command, which also caches the script.
    func eval(keys: [String], arguments: [[UInt8]]) -> RedisCommand {
        RedisCommand("EVAL", [source, String(keys.count)] + keys, values: arguments)
    }
}

extension Sequence<UInt8> {
    /// The bytes as lowercase hexadecimal, two digits each (digests as Redis and logs show them).
    var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] }, as: UTF8.self)
    }
}

extension RedisClient {
    /// Runs `script` by SHA, loading it with `EVAL` if Redis does not know it; error replies
    /// throw. With `acks`, the write must also reach that many replicas (`WAIT`, on the same
    /// connection) or `RedisError.notReplicated` is thrown.
    public func run(_ script: RedisScript, keys: [String], arguments: [[UInt8]] = [], acks: ReplicaAcks? = nil) async throws(RedisError) -> RedisReply {
        let reply = try await send(script.evalsha(keys: keys, arguments: arguments), acks: acks)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try await send(script.eval(keys: keys, arguments: arguments), acks: acks).orThrow()
        }
        return try reply.orThrow()
    }

    /// Sends `command`, then, with `acks`, `WAIT` on the same connection, in one round trip; the
    /// command's reply, or `.notReplicated`. An error reply is returned as it is, the `WAIT`'s
    /// answer ignored: the `WAIT` still ran (after `NOSCRIPT`, with nothing new to replicate, it
    /// returns at once unless fewer replicas than asked are connected).
    public func send(_ command: RedisCommand, acks: ReplicaAcks?) async throws(RedisError) -> RedisReply {
        guard let acks else { return try await send(command) }
        let replies = try await pipeline([command, acks.wait], extraTimeout: acks.timeout)
        guard let reply = replies.first, let confirmed = replies.last else { throw .unexpectedReply("no reply") }
        if case .error = reply { return reply }
        guard let count = confirmed.int else { throw .unexpectedReply("WAIT answered \(confirmed)") }
        guard count >= Int64(acks.replicas) else {
            throw .notReplicated("\(count) of \(acks.replicas) replicas within \(DurationText.format(acks.timeout))")
        }
        return reply
    }
}

/// How many replicas must confirm a write before it counts as done, and how long to wait
/// (`REDIS_ACK_REPLICAS`, `REDIS_ACK_TIMEOUT_MS`): Redis replicates asynchronously, so a master
/// that fails can take its last writes with it unless a replica confirmed them.
public struct ReplicaAcks: Sendable, Equatable {
    /// Replicas that must confirm (at least 1).
    public var replicas: Int
    /// Longest wait for them.
    public var timeout: Duration

    /// `replicas` confirmations within `timeout`.
    public init(replicas: Int, timeout: Duration) {
        self.replicas = max(1, replicas)
        self.timeout = timeout
    }

    /// Reads `REDIS_ACK_REPLICAS` (0 to 16, default 0: nil) and `REDIS_ACK_TIMEOUT_MS` (default 1000).
    public init?(environment: Environment) throws(ConfigurationError) {
        let replicas = try environment.int("REDIS_ACK_REPLICAS", default: 0, in: 0...16)
        let timeout = try environment.milliseconds("REDIS_ACK_TIMEOUT_MS", default: 1000, in: 1...60_000)
        guard replicas > 0 else { return nil }
        self.init(replicas: replicas, timeout: timeout)
    }

    /// `WAIT replicas timeout-ms`.
    var wait: RedisCommand { RedisCommand("WAIT", String(replicas), String(max(1, timeout.totalMilliseconds))) }
}
