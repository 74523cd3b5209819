import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Pipelines commands on one Redis connection: each `send` writes its commands at once and
/// its promise is completed with their replies, in the order Redis answers (the order sent).
///
/// When the connection ends (closed by either side, a broken socket, a reply later than
/// `timeout`, bytes that are not RESP), every command awaiting a reply fails with an error that
/// says it may have run, `onEnd` runs, and later sends fail with `NotSent`, which the caller may
/// safely send elsewhere. Writability is not watched: what is in flight is bounded by the
/// callers (the ingest group commit's `maxInFlight`) and by `timeout`.
/// Lives on its channel's event loop; `RedisMultiplexer` reaches it through `NIOLoopBound`.
final class RedisPipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Thrown for a command never written because its connection had ended: safe to resend.
    struct NotSent: Error {}

    /// A `send` awaiting its replies.
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
    /// Runs once, when the connection ends: the multiplexer forgets it before anyone retries.
    var onEnd: (() -> Void)?

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
        end(.closed("the connection to redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(.io("\(error)"))
        context.close(promise: nil)
    }

    /// Writes `commands` in one go and completes `promise` with their replies; fails it at once
    /// with `NotSent` when the connection has ended. Call on the channel's event loop.
    func send(_ commands: [RedisCommand], promise: EventLoopPromise<[RedisReply]>) {
        guard !commands.isEmpty else { return promise.succeed([]) }
        guard !ended, let context, context.channel.isActive else { return promise.fail(NotSent()) }
        if Self.peerHasClosed(context.channel) {
            // Redis closed its end (a restart, CLIENT KILL, its idle timeout) and the loop has not
            // read that yet: writing now would make this command's outcome unknown for nothing.
            end(.closed("redis closed the connection"))
            context.close(promise: nil)
            return promise.fail(NotSent())
        }
        var buffer = context.channel.allocator.buffer(capacity: commands.reduce(0) { $0 + 16 + $1.arguments.reduce(0) { $0 + $1.count + 16 } })
        for command in commands { buffer.writeRedisCommand(command) }
        pending.append(Pending(promise: promise, expected: commands.count, deadline: context.eventLoop.now + timeout))
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

    /// True when the socket has taken Redis's FIN or reset, read or not (`TCP_INFO`'s state is
    /// past established): one `getsockopt` on the loop, answered at once.
    private static func peerHasClosed(_ channel: any Channel) -> Bool {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return false }
        var closed = false
        provider.getTCPInfo().assumeIsolated().whenSuccess { info in closed = info.tcpi_state != UInt8(TCP_ESTABLISHED) }
        return closed
        #else
        return false
        #endif
    }

    /// Fails every command awaiting a reply with `error`; later sends fail with `NotSent`.
    private func end(_ error: RedisError) {
        ended = true
        timer?.cancel()
        timer = nil
        while let waiting = pending.popFirst() {
            waiting.promise.fail(error)
        }
        let ended = onEnd
        onEnd = nil
        ended?()
    }

    /// Schedules the check of the oldest awaited reply's deadline, unless one is scheduled.
    private func armTimer() {
        guard timer == nil, let oldest = pending.first, let context else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: oldest.deadline) { [self] in
            timer = nil
            guard let oldest = pending.first else { return }
            guard oldest.deadline <= context.eventLoop.now else { return armTimer() }
            end(.io("redis sent no reply within \(timeout.nanoseconds / 1_000_000) ms"))
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RedisPipelineHandler: Sendable {}
