import CHiredis
import NIOCore

/// hiredis's reply parser (`redisReader`), owned: fed the bytes a connection reads, it hands out
/// whole replies, copied into `RedisReply`s. Used on one event loop only.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    /// A new parser; nil when hiredis could not allocate one.
    init?() {
        guard let reader = redisReaderCreate() else { return nil }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Hands `bytes` to the parser, which keeps them until they make whole replies.
    func feed(_ bytes: ByteBuffer) throws(RedisError) {
        let status = bytes.withUnsafeReadableBytes { raw in
            redisReaderFeed(reader, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard status == REDIS_OK else { throw .io("redis protocol error: \(errorText)") }
    }

    /// The next whole reply, or nil until more bytes arrive.
    func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw .io("redis protocol error: \(errorText)") }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension ByteBuffer {
    /// Writes `command` in the Redis protocol (RESP), byte for byte as hiredis's
    /// `redisFormatCommandArgv` formats it, straight into this buffer: no C allocation, no copy.
    mutating func writeRedisCommand(_ command: RedisCommand) {
        writeInteger(UInt8(ascii: "*"))
        writeString(String(command.arguments.count))
        writeStaticString("\r\n")
        for argument in command.arguments {
            writeInteger(UInt8(ascii: "$"))
            writeString(String(argument.count))
            writeStaticString("\r\n")
            writeBytes(argument)
            writeStaticString("\r\n")
        }
    }
}

/// Pipelines commands on one Redis connection: each `send` writes its commands at once and
/// its promise is completed with their replies, in the order Redis answers (the order sent).
///
/// When the connection ends (closed by Redis, a broken socket, a reply later than `timeout`,
/// bytes that are not RESP), every command awaiting a reply fails with an error that says it
/// may have run, and later sends fail with `notSent`, which the caller may safely send elsewhere.
/// Lives on its channel's event loop; `RedisMultiplexer` reaches it through `NIOLoopBound`.
final class RedisPipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Thrown for a command never written because its connection had ended: safe to resend.
    struct NotSent: Error {}

    private struct Pending {
        let promise: EventLoopPromise<[RedisReply]>
        let expected: Int
        var replies: [RedisReply] = []
        let deadline: NIODeadline
    }

    private let timeout: TimeAmount
    private let reader: RedisReplyReader
    private var pending = CircularBuffer<Pending>()
    private var context: ChannelHandlerContext?
    private var ended = false
    /// Armed while replies are awaited, for the oldest one's deadline: one timer per `timeout`
    /// under steady load, not one per command.
    private var timer: Scheduled<Void>?

    /// A handler failing the connection when a reply takes longer than `timeout`.
    init(timeout: TimeAmount, reader: RedisReplyReader) {
        self.timeout = timeout
        self.reader = reader
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        end(.closed("the connection to redis was closed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(.closed("redis closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(.io("\(error)"))
        context.close(promise: nil)
    }

    /// Writes `commands` in one go and completes `promise` with their replies; fails it at once
    /// with `NotSent` when the connection has ended. Call on the channel's event loop.
    func send(_ commands: [RedisCommand], promise: EventLoopPromise<[RedisReply]>) {
        guard !ended, let context, context.channel.isActive else {
            promise.fail(NotSent())
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: commands.reduce(0) { $0 + 16 + $1.arguments.reduce(0) { $0 + $1.count + 16 } })
        for command in commands { buffer.writeRedisCommand(command) }
        pending.append(Pending(promise: promise, expected: commands.count, deadline: .now() + timeout))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        armTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do throws(RedisError) {
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.next() {
                guard !pending.isEmpty else { throw .unexpectedReply("redis sent a reply nobody asked for") }
                let head = pending.startIndex
                pending[head].replies.append(reply)
                if pending[head].replies.count == pending[head].expected {
                    let done = pending.removeFirst()
                    done.promise.succeed(done.replies)
                }
            }
        } catch {
            end(error)
            context.close(promise: nil)
        }
    }

    /// Fails every command awaiting a reply with `error`; later sends fail with `NotSent`.
    private func end(_ error: RedisError) {
        ended = true
        timer?.cancel()
        timer = nil
        while let waiting = pending.popFirst() {
            waiting.promise.fail(error)
        }
    }

    private func armTimer() {
        guard timer == nil, let oldest = pending.first, let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: oldest.deadline) { [self] in
            timer = nil
            guard let oldest = pending.first else { return }
            guard oldest.deadline <= .now() else { return armTimer() }
            end(.io("redis sent no reply within \(timeout.nanoseconds / 1_000_000) ms"))
            self.context?.close(promise: nil)
        }
    }
}
