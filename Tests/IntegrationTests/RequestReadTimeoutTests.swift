import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Testing

@testable import IngestAPI

/// The read timeout closes a connection whose request is not read in time, counting from that
/// request's own head, and never one that only idles between requests. Driven on an embedded
/// event loop's clock, so no test waits.
struct RequestReadTimeoutTests {
    static let head = HTTPRequestPart.head(HTTPRequest(method: .post, scheme: nil, authority: nil, path: "/event"))

    func connectedChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: RequestReadTimeout(timeout: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aRequestNotReadInTimeIsClosedAtItsDeadline() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.head)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10) - .milliseconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    /// A request that starts just before the timer armed for an earlier one fires gets its whole timeout.
    @Test func aRequestStartedLateGetsItsWholeTimeout() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(Self.head)
        try channel.writeInbound(HTTPRequestPart.end(nil))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        try channel.writeInbound(Self.head)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10) - .milliseconds(1))
        #expect(channel.isActive, "the second request started 9 s in: it has until 19 s")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    /// Keep-alive traffic and idling between requests never close the connection.
    @Test func finishedRequestsAndIdlingAreLeftAlone() throws {
        let channel = try connectedChannel()
        for _ in 0..<50 {
            try channel.writeInbound(Self.head)
            try channel.writeInbound(HTTPRequestPart.body(ByteBuffer(string: "{}")))
            try channel.writeInbound(HTTPRequestPart.end(nil))
            channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        }
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
    }
}
