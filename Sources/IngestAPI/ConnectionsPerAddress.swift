import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import Shared

/// Open connections per client address (IPv6 by /64), shared by every connection's handler:
/// one client holding idle keep-alive connections cannot take every slot of
/// `HTTP_MAX_CONNECTIONS` from everybody else.
final class ConnectionsPerAddress: Sendable {
    private let limit: Int
    private let open = NIOLockedValueBox([String: Int]())

    /// At most `limit` connections per address.
    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Counts a new connection from `key`; false (and not counted) when `key` is at its limit.
    func admit(_ key: String) -> Bool {
        open.withLockedValue { open in
            let count = open[key, default: 0]
            guard count < limit else { return false }
            open[key] = count + 1
            return true
        }
    }

    /// Forgets a connection from `key`; the entry goes with its last connection, so the table
    /// holds only addresses with connections open (bounded by `HTTP_MAX_CONNECTIONS`).
    func release(_ key: String) {
        open.withLockedValue { open in
            guard let count = open[key] else { return }
            open[key] = count > 1 ? count - 1 : nil
        }
    }

}

/// Closes a new connection whose address already has its share open.
final class ConnectionsPerAddressHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let table: ConnectionsPerAddress
    private var key: String?

    /// A handler counting against `table`.
    init(table: ConnectionsPerAddress) {
        self.table = table
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let peer = context.channel.remoteAddress?.ipAddress, let address = ClientAddress(peer) else { return }
        if table.admit(address.rateLimitKey) {
            key = address.rateLimitKey
        } else {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let key { table.release(key) }
        key = nil
    }
}
