import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection with at most one request in flight: the last handler of its pipeline.
final class Connection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: any Channel
    private let runner: LoadRunner
    private(set) var inFlight: Int?  // index of the request awaiting its response
    private var status = HTTPResponseStatus.ok

    /// Binds the handler to its channel and the runner it reports to.
    init(runner: LoadRunner, channel: any Channel) {
        self.runner = runner
        self.channel = channel
    }

    /// Writes request `index` (head, body, end) and flushes once.
    func send(index: Int, head: HTTPRequestHead, body: ByteBuffer) {
        inFlight = index
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Notes the status on the head and reports the request done on the end of the response.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            status = responseHead.status
        case .body:
            break
        case .end:
            guard let index = inFlight else { return }
            inFlight = nil
            runner.responseReceived(on: self, index: index, status: status)
        }
    }

    /// Any I/O or protocol error ends the connection; the close reports the lost request.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// Tells the runner the connection is gone, with the request it was carrying, if any.
    func channelInactive(context: ChannelHandlerContext) {
        let lost = inFlight
        inFlight = nil
        runner.connectionClosed(self, lostIndex: lost)
        context.fireChannelInactive()
    }
}
