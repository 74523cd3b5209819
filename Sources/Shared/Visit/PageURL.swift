/// The parts of a page URL the pipeline keeps.
///
/// Parsed by hand on the UTF-8 bytes: Foundation's `URL` is slow and lenient in surprising ways, and every
/// byte here comes from a browser we do not control (or from something pretending to be one).
public struct PageURL: Sendable, Equatable {
    /// Lowercased host without port or userinfo; "www." kept; an IPv6 literal keeps its brackets (`[::1]`).
    public var hostname: String
    /// Starts with "/" ("/" when empty); percent-encoding kept as sent; with `hashMode`, "#fragment" appended.
    public var path: String
    /// The raw query without "?" ("" when none).
    public var query: String

    /// The longest URL parsed, in UTF-8 bytes; longer ones are refused before any work.
    public static let maxBytes = 2000
    /// The longest host accepted, in bytes (the DNS limit).
    public static let maxHostBytes = 253

    /// Creates a page URL from parts already split and normalised.
    public init(hostname: String, path: String = "/", query: String = "") {
        self.hostname = hostname
        self.path = path
        self.query = query
    }

    /// Parses an absolute URL like `https://Example.com:8080/a/b?x=1#frag` or `app://localhost/login`; nil when it is not one.
    ///
    /// Refused: no scheme, no "//" after it, an empty host, a host with characters outside `A-Z a-z 0-9 . - _`
    /// (a bracketed IPv6 literal is allowed), a bad port, control characters anywhere (C0, DEL, C1),
    /// a `data:`, `javascript:` or `vbscript:` scheme, more than `maxBytes` UTF-8 bytes. Spaces at either end
    /// are trimmed; other bytes of the path, query and fragment are kept as sent.
    public static func parse(_ url: String, hashMode: Bool = false) -> PageURL? {
        guard url.utf8.count <= maxBytes else { return nil }
        let all = Array(url.utf8)
        guard !containsControl(all) else { return nil }

        var start = 0
        var end = all.count
        while start < end, all[start] == space { start += 1 }
        while end > start, all[end - 1] == space { end -= 1 }
        let bytes = all[start..<end]

        // scheme ":" "//"
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), colon > bytes.startIndex else { return nil }
        let scheme = bytes[bytes.startIndex..<colon]
        guard let first = scheme.first, isAlpha(first), scheme.allSatisfy(isSchemeByte) else { return nil }
        let lowerScheme = String(decoding: scheme.map(lowercase), as: UTF8.self)
        guard !refusedSchemes.contains(lowerScheme) else { return nil }
        let afterColon = colon + 1
        guard bytes.endIndex - afterColon >= 2,
              bytes[afterColon] == slash, bytes[afterColon + 1] == slash
        else { return nil }

        // authority: up to the first "/", "?" or "#"
        let authorityStart = afterColon + 2
        let authorityEnd = bytes[authorityStart...].firstIndex { $0 == slash || $0 == question || $0 == numberSign } ?? bytes.endIndex
        let authority = bytes[authorityStart..<authorityEnd]
        let hostPort = authority.lastIndex(of: UInt8(ascii: "@")).map { authority[($0 + 1)...] } ?? authority
        guard let hostname = parseHost(hostPort) else { return nil }

        // path, query, fragment
        let rest = bytes[authorityEnd...]
        let fragmentStart = rest.firstIndex(of: numberSign)
        let beforeFragment = rest[rest.startIndex..<(fragmentStart ?? rest.endIndex)]
        let queryStart = beforeFragment.firstIndex(of: question)
        let pathBytes = beforeFragment[beforeFragment.startIndex..<(queryStart ?? beforeFragment.endIndex)]
        let queryBytes = queryStart.map { beforeFragment[($0 + 1)...] } ?? []
        let fragmentBytes = fragmentStart.map { rest[($0 + 1)...] } ?? []

        var path = pathBytes.isEmpty ? "/" : String(decoding: pathBytes, as: UTF8.self)
        if hashMode, !fragmentBytes.isEmpty {
            path += "#" + String(decoding: fragmentBytes, as: UTF8.self)
        }
        return PageURL(hostname: hostname, path: path, query: String(decoding: queryBytes, as: UTF8.self))
    }

    /// The value of the first query parameter named `name` (form-decoded: `+` is space, %XX decoded; invalid escapes kept literally), nil when absent or empty.
    ///
    /// Only the first parameter of that name counts: `?a=&a=x` gives nil. Names are form-decoded before comparing.
    public func queryValue(_ name: String) -> String? {
        queryValues([name]).first ?? nil
    }

    /// `queryValue` of each of `names`, in one pass over the query: a key is form-decoded
    /// only when it holds `%` or `+`, and only the values asked for are decoded.
    public func queryValues(_ names: [String]) -> [String?] {
        var values = [String?](repeating: nil, count: names.count)
        guard !query.isEmpty, query.utf8.count <= Self.maxBytes, !names.isEmpty else { return values }
        var settled = [Bool](repeating: false, count: names.count)  // the first parameter of a name decides
        var unsettled = names.count
        // ASCII names match ASCII keys byte for byte; anything else compares as `String`s do
        // (canonical equivalence: `e%CC%81` is the name "é"), as `queryValue` always has.
        let asciiNames = names.map { $0.utf8.allSatisfy { $0 < 0x80 } }
        var query = query
        query.withUTF8 { bytes in
            var pairStart = 0
            while pairStart < bytes.count, unsettled > 0 {
                let pairEnd = bytes[pairStart...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                let pair = bytes[pairStart..<pairEnd]
                pairStart = pairEnd + 1
                guard !pair.isEmpty else { continue }
                let equals = pair.firstIndex(of: UInt8(ascii: "="))
                let rawKey = pair[pair.startIndex..<(equals ?? pair.endIndex)]
                let key = rawKey.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") } ? Array(Self.formDecode(rawKey).utf8) : Array(rawKey)
                let keyText = key.allSatisfy { $0 < 0x80 } ? nil : String(decoding: key, as: UTF8.self)
                func matches(_ position: Int, _ name: String) -> Bool {
                    if let keyText { return keyText == name }
                    return asciiNames[position] ? key.elementsEqual(name.utf8) : String(decoding: key, as: UTF8.self) == name
                }
                for (position, name) in names.enumerated() where !settled[position] && matches(position, name) {
                    settled[position] = true
                    unsettled -= 1
                    let value = equals.map { Self.formDecode(pair[($0 + 1)...]) } ?? ""
                    values[position] = value.isEmpty ? nil : value
                }
            }
        }
        return values
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte, a bad escape stays as it is;
    /// bytes that are not UTF-8 afterwards become U+FFFD.
    static func formDecode(_ bytes: some Collection<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            index = bytes.index(after: index)
            if byte == UInt8(ascii: "+") {
                output.append(space)
            } else if byte == UInt8(ascii: "%"), index != bytes.endIndex, let high = hexValue(bytes[index]) {
                let next = bytes.index(after: index)
                if next != bytes.endIndex, let low = hexValue(bytes[next]) {
                    output.append(high << 4 | low)
                    index = bytes.index(after: next)
                } else {
                    output.append(byte)
                }
            } else {
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `host[:port]` or `[ipv6][:port]` → lowercased host; nil when either part is malformed.
    private static func parseHost(_ hostPort: ArraySlice<UInt8>) -> String? {
        let host: ArraySlice<UInt8>
        let port: ArraySlice<UInt8>?
        if hostPort.first == UInt8(ascii: "[") {
            guard let close = hostPort.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let literal = hostPort[(hostPort.startIndex + 1)..<close]
            guard literal.count >= 2, literal.contains(UInt8(ascii: ":")),
                  literal.allSatisfy({ hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return nil }
            host = hostPort[hostPort.startIndex...close]
            let after = hostPort[(close + 1)...]
            if after.isEmpty {
                port = nil
            } else {
                guard after.first == UInt8(ascii: ":") else { return nil }
                port = after.dropFirst()
            }
        } else {
            let colon = hostPort.firstIndex(of: UInt8(ascii: ":"))
            host = hostPort[hostPort.startIndex..<(colon ?? hostPort.endIndex)]
            port = colon.map { hostPort[($0 + 1)...] }
            guard host.allSatisfy(isHostByte), host.contains(where: isAlphanumeric) else { return nil }
        }
        guard !host.isEmpty, host.count <= maxHostBytes else { return nil }
        if let port, !port.isEmpty {
            guard port.count <= 5, port.allSatisfy(isDigit) else { return nil }
            let value = port.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 65535 else { return nil }
        }
        return String(decoding: host.map(lowercase), as: UTF8.self)
    }

    /// True when the bytes hold a C0 control, DEL, or a C1 control (U+0080–U+009F, `C2 80`–`C2 9F` in UTF-8).
    private static func containsControl(_ bytes: [UInt8]) -> Bool {
        var previous: UInt8 = 0
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F { return true }
            if previous == 0xC2, byte >= 0x80, byte <= 0x9F { return true }
            previous = byte
        }
        return false
    }

    private static let refusedSchemes: Set<String> = ["javascript", "data", "vbscript"]
    private static let space = UInt8(ascii: " ")
    private static let slash = UInt8(ascii: "/")
    private static let question = UInt8(ascii: "?")
    private static let numberSign = UInt8(ascii: "#")

    private static func isAlpha(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool { isAlpha(byte) || isDigit(byte) }

    /// RFC 3986 scheme characters: `ALPHA / DIGIT / "+" / "-" / "."`.
    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// `A-Z a-z 0-9 . - _`.
    private static func isHostByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
