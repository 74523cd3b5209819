import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request is not read in full within `timeout` of its head: a
/// client that trickles its body a byte at a time holds a connection (and a request slot) for
/// at most that long. A slow head is the idle timeout's to catch (no request part arrives).
///
/// The timer is armed lazily: a request's head only records when it started, and one timer per
/// connection, re-armed for the request in progress when it fires, checks the deadline. Under
/// keep-alive traffic that is one timer per `timeout`, not a schedule and a cancel per request
/// (which `scripts/bench` measured in `POST /event`'s profile).
final class RequestReadTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    /// When the request being read started; nil between requests.
    private var started: NIODeadline?
    private var timer: Scheduled<Void>?

    /// A handler that allows `timeout` from a request's head to its end.
    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            let now = context.eventLoop.now
            started = now
            if timer == nil { arm(context, at: now + timeout) }
        case .end:
            started = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    /// Checks at `deadline` whether the request then in progress has had its `timeout`.
    private func arm(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let started else { return }  // idle: the next head arms it again
            let due = started + timeout
            if due <= context.eventLoop.now {
                context.close(promise: nil)
            } else {
                arm(context, at: due)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    /// Cancels the timer: the connection is gone.
    private func stop() {
        timer?.cancel()
        timer = nil
        started = nil
    }
}
