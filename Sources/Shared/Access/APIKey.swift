import Crypto

/// What a key may do. Keys are created with `stats:read` unless told otherwise.
public enum APIScope {
    /// The Stats API (v1, v2) and seed 004's `/stats`.
    public static let statsRead = "stats:read"
    /// Raw events and their export (`/api/v1/events`, `/api/v1/export`).
    public static let eventsRead = "events:read"
    /// Every scope a key may hold.
    public static let all = [statsRead, eventsRead]
    /// The scopes of a key created without `--scope`.
    public static let defaults = [statsRead]

    /// The scopes, checked against `all`, without duplicates, in the order given.
    public static func validated(_ scopes: [String]) throws(AccessError) -> [String] {
        var result: [String] = []
        for scope in scopes {
            guard all.contains(scope) else { throw .unknownScope(scope) }
            if !result.contains(scope) { result.append(scope) }
        }
        return result.isEmpty ? defaults : result
    }
}

/// An API key as stored: never the key itself, only its SHA-256, the first 8 hex digits of its
/// secret (its id, shown by `keys list` and used by `keys revoke`) and what it may read.
public struct APIKey: Sendable, Equatable {
    /// SHA-256 of the whole key text, lowercase hex: the `_id` in `api_keys`.
    public var hash: String
    /// The first 8 hex digits after `pk_`: names the key in listings without revealing it.
    public var id: String
    /// What the person who made it called it.
    public var name: String
    /// The sites it may read; ignored when `allSites`.
    public var sites: [String]
    /// True when it may read every site, added or not.
    public var allSites: Bool
    /// What it may do (`APIScope`).
    public var scopes: [String]
    /// When it was made, Unix milliseconds.
    public var createdAt: Int64
    /// When it was revoked, Unix milliseconds; a revoked key reads nothing.
    public var revokedAt: Int64?

    /// A key record from its parts.
    public init(
        hash: String, id: String, name: String, sites: [String], allSites: Bool, scopes: [String], createdAt: Int64, revokedAt: Int64? = nil
    ) {
        self.hash = hash
        self.id = id
        self.name = name
        self.sites = sites
        self.allSites = allSites
        self.scopes = scopes
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// True when the key is not revoked and holds `scope`.
    public func allows(scope: String) -> Bool {
        revokedAt == nil && scopes.contains(scope)
    }

    /// True when the key may read `domain` (all sites, or the domain is listed).
    public func covers(site domain: String) -> Bool {
        allSites || sites.contains(domain)
    }
}

/// The text of a key: `pk_` and 64 lowercase hex digits (32 random bytes). It is shown once,
/// when made, and never stored.
public enum APIKeySecret {
    /// What every key starts with.
    public static let prefix = "pk_"
    /// Hex digits after the prefix.
    public static let hexLength = 64
    /// Hex digits of the id.
    public static let idLength = 8

    /// A new random key (32 bytes from the system's secure generator).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }.lowercaseHex
    }

    /// True when `text` has the shape of a key: `pk_` and exactly 64 lowercase hex digits.
    public static func isWellFormed(_ text: some StringProtocol) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == prefix.utf8.count + hexLength, bytes.starts(with: prefix.utf8) else { return false }
        return bytes.dropFirst(prefix.utf8.count).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// SHA-256 of the key's UTF-8 text, lowercase hex: what is stored and looked up.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Array(key.utf8)).lowercaseHex
    }

    /// The key's id: the first 8 hex digits after `pk_`.
    public static func id(of key: String) -> String {
        String(key.dropFirst(prefix.count).prefix(idLength))
    }

    /// True when `text` has the shape of a key id (8 lowercase hex digits).
    public static func isWellFormedID(_ text: String) -> Bool {
        text.utf8.count == idLength && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// What the `Authorization` header of a read offers.
public enum BearerCredential: Sendable, Equatable {
    /// No header, another scheme, or `Bearer` with nothing after it: no key was offered.
    case missing
    /// A bearer token that cannot be a key (wrong shape, several headers): refused without a lookup.
    case malformed
    /// A token with the shape of a key; still to be looked up.
    case key(String)

    /// Longest `Authorization` value looked at; longer ones are malformed without being scanned.
    public static let maxHeaderLength = 1024

    /// Reads the values of every `Authorization` header: the scheme `Bearer` in any case, one or
    /// more spaces or tabs, the token, optional trailing spaces or tabs. Two headers, bytes
    /// outside printable ASCII or an oversized value are malformed, never a trap.
    public static func parse(authorization values: [String]) -> BearerCredential {
        guard let value = values.first else { return .missing }
        guard values.count == 1 else { return .malformed }
        let bytes = Array(value.utf8)
        guard bytes.count <= maxHeaderLength else { return .malformed }
        let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        var start = 0
        var end = bytes.count
        while start < end, blank(bytes[start]) { start += 1 }
        while end > start, blank(bytes[end - 1]) { end -= 1 }
        let scheme = Array("bearer".utf8)
        guard end - start >= scheme.count,
            zip(bytes[start..<(start + scheme.count)], scheme).allSatisfy({ ($0 | 0x20) == $1 })
        else { return .missing }  // another scheme (Basic, Token…): no bearer key offered
        var tokenStart = start + scheme.count
        guard tokenStart == end || blank(bytes[tokenStart]) else { return .missing }  // e.g. "Bearerish"
        while tokenStart < end, blank(bytes[tokenStart]) { tokenStart += 1 }
        guard tokenStart < end else { return .missing }
        let token = bytes[tokenStart..<end]
        guard token.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return .malformed }
        let text = String(decoding: token, as: UTF8.self)
        return APIKeySecret.isWellFormed(text) ? .key(text) : .malformed
    }
}
