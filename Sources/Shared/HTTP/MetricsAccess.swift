import Crypto

/// Who may read `/metrics`: with `METRICS_TOKEN` set, whoever sends `Authorization: Bearer
/// <token>`; without it, only a client on the loopback interface whose request carries no
/// proxy header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`), and nobody at all when the
/// process was told it runs behind a proxy (`TRUST_PROXY`): a reverse proxy on the same
/// machine, which makes every client look local, must not open it to the internet.
public struct MetricsAccess: Sendable {
    private let tokenDigest: [UInt8]?
    private let behindProxy: Bool

    /// Access by `token`; without one, loopback only, and not at all `behindProxy`.
    public init(token: String?, behindProxy: Bool = false) {
        tokenDigest = token.flatMap { $0.isEmpty ? nil : Array(SHA256.hash(data: Array($0.utf8))) }
        self.behindProxy = behindProxy
    }

    /// Whether this request may read the metrics.
    public func allows(peer: String?, authorization: String?, forwarded: Bool) -> Bool {
        if let tokenDigest {
            guard let authorization, authorization.utf8.count <= 1024, authorization.hasPrefix("Bearer ") else { return false }
            let offered = Array(SHA256.hash(data: Array(authorization.utf8.dropFirst(7))))
            // Digests of equal length, compared in constant time.
            return zip(offered, tokenDigest).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
        guard !behindProxy, !forwarded, let peer, let address = ClientAddress(peer) else { return false }
        return address.isLoopback
    }
}

extension ClientAddress {
    /// `127.0.0.0/8` or `::1`.
    public var isLoopback: Bool {
        switch self {
        case .v4(let first, _, _, _): first == 127
        case .v6(let bytes): bytes.prefix(15).allSatisfy { $0 == 0 } && bytes.last == 1
        }
    }
}
