import NIOCore
import NIOEmbedded
import Testing

@testable import Shared

/// The pipelined connection's handler, on an embedded loop and its clock: replies reach their
/// senders in order however the bytes are split; an end fails what awaits a reply as may have
/// run, refuses later sends as never sent, and tells the multiplexer once.
struct RedisPipelineHandlerTests {
    /// A handler on a connected embedded channel, counting how often it asks to be forgotten.
    final class Connection {
        let channel: EmbeddedChannel
        let handler: RedisPipelineHandler
        var ends = 0

        init(timeout: TimeAmount = .seconds(5)) throws {
            handler = RedisPipelineHandler(timeout: timeout, reader: try #require(RedisReplyReader()))
            channel = EmbeddedChannel(handler: handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            handler.onEnd = { [unowned self] in self.ends += 1 }
        }

        /// Sends `commands`; the returned box fills in when the handler completes them.
        func send(_ commands: RedisCommand...) -> Outcome {
            let outcome = Outcome()
            let promise = channel.eventLoop.makePromise(of: [RedisReply].self)
            promise.futureResult.assumeIsolated().whenComplete { outcome.result = $0 }
            handler.send(commands, promise: promise)
            return outcome
        }

        /// Redis's bytes arriving.
        func receive(_ text: String) throws {
            try channel.writeInbound(ByteBuffer(string: text))
        }
    }

    /// What a send came to, once it did.
    final class Outcome {
        var result: Result<[RedisReply], any Error>?
        var replies: [RedisReply]? { try? result?.get() }
        var mayHaveRun: Bool? {
            guard case .failure(let error) = result else { return nil }
            return (error as? RedisError)?.mayHaveRun
        }
        var notSent: Bool {
            guard case .failure(let error) = result else { return false }
            return error is RedisPipelineHandler.NotSent
        }
    }

    @Test func repliesReachTheirSendersInOrderHoweverTheBytesAreSplit() throws {
        let connection = try Connection()
        let first = connection.send(RedisCommand("PING"), RedisCommand("ECHO", "x"))
        let second = connection.send(RedisCommand("GET", "k"))
        var written = ByteBuffer()
        while let part = try connection.channel.readOutbound(as: ByteBuffer.self) { written.writeImmutableBuffer(part) }
        var expected = ByteBuffer()
        for command in [RedisCommand("PING"), RedisCommand("ECHO", "x"), RedisCommand("GET", "k")] { expected.writeRedisCommand(command) }
        #expect(written == expected, "each send is written whole, in order")
        try connection.receive("+PONG\r\n$1\r")
        #expect(first.result == nil, "one of its two replies is in")
        try connection.receive("\nx\r\n$-")
        #expect(first.replies == [.status("PONG"), .bulk(Array("x".utf8))])
        #expect(second.result == nil)
        try connection.receive("1\r\n")
        #expect(second.replies == [.null])
        #expect(connection.channel.isActive && connection.ends == 0)
    }

    @Test func bytesThatAreNotRedisEndTheConnection() throws {
        let connection = try Connection()
        let waiting = connection.send(RedisCommand("LPUSH", "q", "x"))
        try connection.receive("HTTP/1.1 400 Bad Request\r\n\r\n")
        #expect(waiting.mayHaveRun == true, "it was written: it may have run")
        #expect(!connection.channel.isActive)
        #expect(connection.ends == 1)
        #expect(connection.send(RedisCommand("PING")).notSent, "later sends are refused before writing")
        #expect(connection.ends == 1, "the multiplexer is told once")
    }

    @Test func aReplyNobodyAskedForEndsTheConnection() throws {
        let connection = try Connection()
        try connection.receive("+OK\r\n")
        #expect(!connection.channel.isActive)
        #expect(connection.ends == 1)
    }

    @Test func partOfAReplyWhileNoneIsAwaitedEndsTheConnectionBeforeItIsKept() throws {
        let connection = try Connection()
        try connection.receive("$99999999999\r\nxxxx")  // the start of a reply that never ends
        #expect(!connection.channel.isActive, "an idle connection has no timer to end it later")
        #expect(connection.ends == 1)
    }

    /// Bytes that arrive with the last awaited reply, past it, would be taken for the start of
    /// the next send's reply: they end the connection, and the next send goes to a new one.
    @Test func bytesPastTheLastAwaitedReplyEndTheConnection() throws {
        let connection = try Connection()
        let ping = connection.send(RedisCommand("PING"))
        try connection.receive("+PONG\r\n+OK\r\n")
        #expect(ping.replies == [.status("PONG")], "the reply awaited still reaches its sender")
        #expect(!connection.channel.isActive)
        #expect(connection.ends == 1)
        #expect(connection.send(RedisCommand("GET", "k")).notSent)
    }

    /// The start of an array past the last awaited reply ends the connection as well.
    @Test func anArrayBegunPastTheLastAwaitedReplyEndsTheConnection() throws {
        let connection = try Connection()
        let ping = connection.send(RedisCommand("PING"))
        try connection.receive("+PONG\r\n*2\r\n")
        #expect(ping.replies == [.status("PONG")])
        #expect(!connection.channel.isActive)
    }

    /// The oldest awaited reply's deadline fails everything awaited, as may have run; not a moment before.
    @Test func aReplyLaterThanTheTimeoutFailsWhatAwaitsIt() throws {
        let connection = try Connection(timeout: .seconds(1))
        let first = connection.send(RedisCommand("LPUSH", "q", "a"))
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        let second = connection.send(RedisCommand("LPUSH", "q", "b"))
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(499))
        #expect(first.result == nil && connection.channel.isActive)
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(first.mayHaveRun == true && second.mayHaveRun == true)
        #expect(!connection.channel.isActive)
    }

    /// A reply in time re-arms the deadline for the next oldest send, from its own start.
    @Test func eachSendHasItsOwnDeadline() throws {
        let connection = try Connection(timeout: .seconds(1))
        let first = connection.send(RedisCommand("PING"))
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        let second = connection.send(RedisCommand("PING"))
        try connection.receive("+PONG\r\n")
        #expect(first.replies == [.status("PONG")])
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(999))
        #expect(second.result == nil, "sent at 600 ms, it has until 1,600 ms")
        connection.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(second.mayHaveRun == true)
    }

    /// Shutdown refuses new sends but lets those in flight have their replies, then closes.
    @Test func closeWhenIdleWaitsForTheRepliesAwaited() throws {
        let connection = try Connection()
        let inFlight = connection.send(RedisCommand("LPUSH", "q", "x"))
        connection.handler.closeWhenIdle()
        #expect(connection.channel.isActive)
        #expect(connection.send(RedisCommand("PING")).notSent)
        try connection.receive(":1\r\n")
        #expect(inFlight.replies == [.integer(1)])
        #expect(!connection.channel.isActive)
    }
}
