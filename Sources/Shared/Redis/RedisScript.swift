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
    /// Runs `script` by SHA, loading it with `EVAL` if Redis does not know it; error replies throw.
    public func run(_ script: RedisScript, keys: [String], arguments: [[UInt8]] = []) async throws(RedisError) -> RedisReply {
        let reply = try await send(script.evalsha(keys: keys, arguments: arguments))
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try await send(script.eval(keys: keys, arguments: arguments)).orThrow()
        }
        return try reply.orThrow()
    }
}
