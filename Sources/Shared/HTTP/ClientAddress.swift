#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A client's IP address as ingest believes it: parsed strictly, never echoed as sent.
public enum ClientAddress: Sendable, Equatable {
    /// An IPv4 address, four bytes.
    case v4(UInt8, UInt8, UInt8, UInt8)
    /// An IPv6 address, sixteen bytes (IPv4-mapped ones are read as `.v4`).
    case v6([UInt8])

    /// Most proxies `TRUST_PROXY` may name: how far from the right of `X-Forwarded-For` we read.
    public static let maxForwardedHops = 64

    /// Parses `1.2.3.4`, `1.2.3.4:port`, `::1`, `[::1]` or `[::1]:port`; nil for anything else.
    public init?(_ text: some StringProtocol) {
        var host = Substring(text)
        guard !host.isEmpty, host.utf8.count <= 64, !host.utf8.contains(0) else { return nil }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && Self.isPort(rest.dropFirst())) else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.utf8.filter({ $0 == UInt8(ascii: ":") }).count == 1, let colon = host.firstIndex(of: ":") {
            guard Self.isPort(host[host.index(after: colon)...]) else { return nil }
            host = host[..<colon]
        }
        if let bytes = Self.presentationToBytes(String(host), family: AF_INET, count: 4) {
            self = .v4(bytes[0], bytes[1], bytes[2], bytes[3])
        } else if let bytes = Self.presentationToBytes(String(host), family: AF_INET6, count: 16) {
            if bytes.prefix(10).allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                self = .v4(bytes[12], bytes[13], bytes[14], bytes[15])
            } else {
                self = .v6(bytes)
            }
        } else {
            return nil
        }
    }

    /// The key rate limits count this address under: an IPv4 address alone, an IPv6 address
    /// by its /64 prefix (one subscriber usually holds a whole /64, so counting single IPv6
    /// addresses would let one client rotate through 2^64 of them).
    public var rateLimitKey: String {
        switch self {
        case .v4(let a, let b, let c, let d): return "\(a).\(b).\(c).\(d)"
        case .v6(let bytes):
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        }
    }

    /// The whole address in canonical text (`inet_ntop`): an input of the visitor hash and the
    /// country lookup, never stored.
    public var text: String {
        switch self {
        case .v4(let a, let b, let c, let d): return "\(a).\(b).\(c).\(d)"
        case .v6(let bytes):
            var output = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let written = bytes.withUnsafeBytes { source in
                output.withUnsafeMutableBufferPointer { inet_ntop(AF_INET6, source.baseAddress, $0.baseAddress, socklen_t(INET6_ADDRSTRLEN)) }
            }
            guard written != nil else { return "" }
            return String(decoding: output.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// The client behind `trustedProxies` proxies of ours: the `trustedProxies`-th entry from the
    /// right of the `X-Forwarded-For` values (the one our own outermost proxy appended). Read from
    /// the right, so entries a client puts in front (any number of them) are never looked at.
    /// Nil when the chain is shorter, `trustedProxies` is out of range, or that entry is no address.
    public static func forwarded(_ headerValues: [String], trustedProxies: Int) -> ClientAddress? {
        guard (1...maxForwardedHops).contains(trustedProxies) else { return nil }
        var seen = 0
        for value in headerValues.reversed() {
            for entry in value.split(separator: ",", omittingEmptySubsequences: false).reversed() {
                let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
                guard let first = entry.firstIndex(where: { !isBlank($0) }), let last = entry.lastIndex(where: { !isBlank($0) }) else { continue }
                seen += 1
                if seen == trustedProxies { return ClientAddress(entry[first...last]) }
            }
        }
        return nil
    }

    private static func isPort(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.count <= 5 && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// `inet_pton`: strict, bounded, and the C library's own parser for both families.
    private static func presentationToBytes(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var storage = [UInt8](repeating: 0, count: 16)
        let status = storage.withUnsafeMutableBytes { buffer in
            inet_pton(family, text, buffer.baseAddress)
        }
        return status == 1 ? Array(storage.prefix(count)) : nil
    }
}
