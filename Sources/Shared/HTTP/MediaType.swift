/// The media type of a `Content-Type` header, read without trusting a byte of it.
public enum MediaType {
    /// The longest `Content-Type` value looked at; longer ones are refused.
    public static let maxHeaderBytes = 1024

    /// `type/subtype`, lowercased, with parameters and surrounding whitespace dropped; nil when
    /// the header is empty, too long, or not `token/token` (`;`, `;;;`, `/json`, `text/`, …).
    public static func essence(of header: String) -> String? {
        let bytes = header.utf8
        guard bytes.count <= maxHeaderBytes else { return nil }
        let head = bytes.prefix { $0 != UInt8(ascii: ";") }
        let trimmed = head.drop { isSpace($0) }.reversed().drop { isSpace($0) }.reversed()
        var slash = 0
        var output: [UInt8] = []
        output.reserveCapacity(trimmed.count)
        for byte in trimmed {
            if byte == UInt8(ascii: "/") {
                slash += 1
            } else if !isTokenByte(byte) {
                return nil
            }
            output.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
        }
        guard slash == 1, let index = output.firstIndex(of: UInt8(ascii: "/")), index > 0, index < output.count - 1 else { return nil }
        return String(decoding: output, as: UTF8.self)
    }

    /// True for the bodies ingest reads as JSON: `application/json`, `text/plain` (what
    /// `navigator.sendBeacon` sends) and any `+json` type.
    public static func isJSONCompatible(_ essence: String) -> Bool {
        essence == "application/json" || essence == "text/plain" || essence.hasSuffix("+json")
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }
}
