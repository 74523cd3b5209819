import CHiredis
import NIOCore
import Testing

@testable import Shared

/// The pipelined connection's codec: commands written as hiredis writes them, replies read by
/// hiredis's parser however the bytes are split.
struct RedisProtocolTests {
    /// Byte for byte what `redisFormatCommandArgv` makes, binary arguments included.
    @Test func commandsAreWrittenAsHiredisFormatsThem() throws {
        let commands = [
            RedisCommand("PING"),
            RedisCommand("SET", "key", ""),
            RedisCommand(arguments: [Array("LPUSH".utf8), Array("q".utf8), [0, 13, 10, 255], Array(repeating: 0x61, count: 1000)]),
            RedisCommand("EVALSHA", "abc", "2", "k1", "k2", "ü\r\n$3\r\n"),
        ]
        for command in commands {
            var buffer = ByteBuffer()
            buffer.writeRedisCommand(command)
            #expect(Array(buffer.readableBytesView) == (try Self.hiredisFormat(command)))
        }
    }

    /// Replies arrive in pieces of any size; each comes out whole, once, in order, and nothing
    /// comes out of a reply still incomplete.
    @Test func repliesAreReadWholeFromAnySplitOfTheBytes() throws {
        let wire = Array("+OK\r\n-ERR bad\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*3\r\n:1\r\n*1\r\n$0\r\n\r\n$1\r\nx\r\n".utf8)
        let expected: [RedisReply] = [
            .status("OK"), .error("ERR bad"), .integer(42), .bulk(Array("he\r\nl".utf8)), .null,
            .array([.integer(1), .array([.bulk([])]), .bulk([0x78])]),
        ]
        for piece in [1, 2, 3, 7, wire.count] {
            let reader = try #require(RedisReplyReader())
            var replies: [RedisReply] = []
            var offset = 0
            while offset < wire.count {
                let end = min(offset + piece, wire.count)
                try reader.feed(ByteBuffer(bytes: wire[offset..<end]))
                while let reply = try reader.next() { replies.append(reply) }
                offset = end
            }
            #expect(replies == expected, "in pieces of \(piece) bytes")
        }
    }

    /// Bytes that are not the Redis protocol are an error, never a reply.
    @Test func bytesThatAreNotRESPAreAnError() throws {
        let reader = try #require(RedisReplyReader())
        #expect(throws: RedisError.self) {
            try reader.feed(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n"))
            _ = try reader.next()
        }
    }

    private static func hiredisFormat(_ command: RedisCommand) throws -> [UInt8] {
        var lengths = command.arguments.map(\.count)
        let copies = command.arguments.map { argument -> UnsafeMutablePointer<CChar> in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, argument.count))
            argument.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(copy).copyMemory(from: raw.baseAddress ?? UnsafeRawPointer(copy), byteCount: argument.count)
            }
            return copy
        }
        defer { copies.forEach { $0.deallocate() } }
        var argv = copies.map { UnsafePointer<CChar>?($0) }
        var target: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&target, Int32(argv.count), &argv, &lengths)
        let formatted = try #require(target)
        defer { redisFreeCommand(formatted) }
        return Array(UnsafeRawBufferPointer(start: formatted, count: Int(length)))
    }
}

/// Which commands may go over the one pipelined connection every caller shares.
struct RedisCommandSharingTests {
    @Test func dataCommandsShareTheConnection() {
        for command in [RedisCommand("LPUSH", "q", "x"), RedisCommand("evalsha", "abc", "0"), RedisCommand("PING"), RedisCommand("CLIENT", "ID")] {
            #expect(command.canShareConnection, "\(command.name)")
        }
    }

    @Test func blockingAndConnectionChangingCommandsKeepThePool() {
        let kept = [
            RedisCommand("BLMOVE", "a", "b", "LEFT", "LEFT", "1"), RedisCommand("WAIT", "1", "100"), RedisCommand("select", "2"),
            RedisCommand("MULTI"), RedisCommand("READONLY"), RedisCommand("CLIENT", "REPLY", "OFF"), RedisCommand("CLIENT", "setname", "x"),
            RedisCommand("CLIENT", "TRACKING", "ON"), RedisCommand("CLIENT", "kill", "ID", "7"), RedisCommand("CLIENT"), RedisCommand(arguments: []),
        ]
        for command in kept { #expect(!command.canShareConnection, "\(command.arguments.map { String(decoding: $0, as: UTF8.self) })") }
    }
}
