import NIOCore

#if os(Linux)
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
    /// Sends awaiting replies, oldest first: the order Redis answers in.
    private var pending = CircularBuffer<Pending>()
    private var context: ChannelHandlerContext?
    /// The channel's socket options, looked up once: each send reads `TCP_INFO` through them.
    private var socketOptions: (any SocketOptionProvider)?
    /// True once no more sends are taken (the connection ended, is ending, or is to close when idle).
    private var refusing = false
    /// Set by `closeWhenIdle`: the channel closes once the last awaited reply arrived.
    private var closingWhenIdle = false
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

    /// Keeps the context (sends write through it) and the channel's socket options.
    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        socketOptions = context.channel as? any SocketOptionProvider
    }

    /// Fails what still awaits a reply: the pipeline is going away.
    func handlerRemoved(context: ChannelHandlerContext) {
        end(.closed("the connection to redis was closed"))
        self.context = nil
        socketOptions = nil
    }

    /// Fails what still awaits a reply: the connection closed, from either side.
    func channelInactive(context: ChannelHandlerContext) {
        end(.closed("the connection to redis closed"))
        context.fireChannelInactive()
    }

    /// Fails what awaits a reply and closes: a socket error leaves the stream in an unknown state.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(.io("\(error)"))
        context.close(promise: nil)
    }

    /// Writes `commands` in one go and completes `promise` with their replies; fails it at once
    /// with `NotSent` when the connection has ended. Call on the channel's event loop.
    func send(_ commands: [RedisCommand], promise: EventLoopPromise<[RedisReply]>) {
        guard !commands.isEmpty else { return promise.succeed([]) }
        guard !refusing, let context, context.channel.isActive, !peerHasClosed() else {
            // Ended, or Redis closed its end (a restart, CLIENT KILL, its idle timeout) and the loop
            // has not read that yet: writing now would make this command's outcome unknown for
            // nothing. Replies already on their way are still read; the end fails what is left.
            refuseSends()
            return promise.fail(NotSent())
        }
        var buffer = context.channel.allocator.buffer(capacity: commands.reduce(0) { $0 + 16 + $1.arguments.reduce(0) { $0 + $1.count + 16 } })
        for command in commands { buffer.writeRedisCommand(command) }
        pending.append(Pending(promise: promise, expected: commands.count, deadline: context.eventLoop.now + timeout))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        armTimer()
    }

    /// Feeds what Redis sent to the reply parser and hands each whole reply to the send awaiting it.
    /// Bytes while no reply is awaited end the connection before they are kept: no timer runs
    /// then, so a peer streaming one endless reply would otherwise be buffered without bound.
    /// So do bytes left over past the last awaited reply: the next send's reply would start
    /// behind them and be handed to the wrong caller.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do throws(RedisError) {
            guard !pending.isEmpty else { throw .unexpectedReply("redis sent bytes while no reply was awaited") }
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.next() {
                guard !pending.isEmpty else { throw .unexpectedReply("redis sent a reply nobody asked for") }
                let complete = pending.modify(pending.startIndex) { waiting in
                    waiting.replies.append(reply)
                    return waiting.replies.count == waiting.expected
                }
                if complete {
                    let done = pending.removeFirst()
                    done.promise.succeed(done.replies)
                }
            }
            if pending.isEmpty, reader.holdsUnreadBytes { throw .unexpectedReply("redis sent bytes past the last reply awaited") }
            if closingWhenIdle, pending.isEmpty { context.close(promise: nil) }
        } catch {
            end(error)
            context.close(promise: nil)
        }
    }

    /// Takes no more sends and closes the channel once the replies awaited have arrived (or the
    /// read timeout fails them): a shutdown that lets commands in flight finish.
    func closeWhenIdle() {
        refuseSends()
        closingWhenIdle = true
        if pending.isEmpty { context?.close(promise: nil) }
    }

    /// True when the socket has taken Redis's FIN or reset, read or not (`TCP_INFO`'s state is
    /// past established): one `getsockopt`, which a socket channel answers at once on its loop.
    /// Elsewhere than Linux it is always false, and a command written just after Redis closed an
    /// idle connection fails as one that may have run.
    private func peerHasClosed() -> Bool {
        #if os(Linux)
        guard let provider = socketOptions else { return false }
        var answered = false
        var closed = false
        provider.getTCPInfo().assumeIsolated().whenComplete { result in
            answered = true
            if case .success(let info) = result { closed = info.tcpi_state != UInt8(TCP_ESTABLISHED) }
        }
        assert(answered, "TCP_INFO is read synchronously on the channel's loop")
        return closed
        #else
        return false
        #endif
    }

    /// Takes no more sends (they fail with `NotSent`) and tells the multiplexer, once, to forget
    /// this connection, so a caller's resend goes to a new one.
    private func refuseSends() {
        refusing = true
        let forget = onEnd
        onEnd = nil
        forget?()
    }

    /// Fails every command awaiting a reply with `error`; later sends fail with `NotSent`.
    private func end(_ error: RedisError) {
        refuseSends()
        timer?.cancel()
        timer = nil
        while let waiting = pending.popFirst() {
            waiting.promise.fail(error)
        }
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
