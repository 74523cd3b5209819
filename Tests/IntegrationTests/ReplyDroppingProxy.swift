import Foundation
import NIOConcurrencyHelpers

/// A TCP proxy on loopback in front of a real server that, once told to, swallows every reply:
/// the server runs what it is sent, the client never hears back. This is exactly "Redis ran
/// the push but the answer was lost", which no server setting reproduces on demand.
final class ReplyDroppingProxy: Sendable {
    /// The port clients connect to.
    let port: Int
    private let listener: Int32
    private let upstreamPort: Int
    private let dropping = NIOLockedValueBox(false)
    private let sockets = NIOLockedValueBox<[Int32]>([])

    /// Listens on a free loopback port and forwards to `127.0.0.1:upstreamPort`.
    init(upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else { throw TestSetupError("proxy: cannot listen") }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// From now on, replies from the server are read and thrown away.
    func dropReplies() { dropping.withLockedValue { $0 = true } }

    /// Closes the listener and every proxied connection.
    func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
        for fd in sockets.withLockedValue({ $0 }) { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: upstreamPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else { Glibc.close(client); Glibc.close(upstream); continue }
            sockets.withLockedValue { $0 += [client, upstream] }
            Thread.detachNewThread { [self] in pump(from: client, to: upstream, droppable: false) }
            Thread.detachNewThread { [self] in pump(from: upstream, to: client, droppable: true) }
        }
    }

    private func pump(from source: Int32, to destination: Int32, droppable: Bool) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            if droppable && dropping.withLockedValue({ $0 }) { continue }
            let sent = buffer.withUnsafeBytes { send(destination, $0.baseAddress, count, Int32(MSG_NOSIGNAL)) }
            guard sent == count else { break }
        }
        shutdown(destination, Int32(SHUT_RDWR))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
