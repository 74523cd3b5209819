import Crypto

/// The keyed hash behind anonymous visitor ids, with the key schedule of one day's salt done
/// once: a batch hashes every event under the same one or two salts, and setting up an HMAC
/// key costs two SHA-256 blocks and several allocations, more than hashing a short message.
public struct VisitorHasher {
    private let keyed: HMAC<SHA256>

    /// A hasher for the day whose salt is `salt`.
    public init(salt: [UInt8]) {
        keyed = HMAC<SHA256>(key: SymmetricKey(data: salt))
    }

    /// The anonymous visitor: HMAC-SHA-256 under the salt of `site NUL address NUL userAgent`,
    /// its first 8 bytes read big-endian.
    public func visitorID(siteID: String, address: String, userAgent: String) -> Int64 {
        var message: [UInt8] = []
        message.reserveCapacity(siteID.utf8.count + address.utf8.count + userAgent.utf8.count + 2)
        message += siteID.utf8
        message.append(0)
        message += address.utf8
        message.append(0)
        message += userAgent.utf8
        var mac = keyed  // the digest contexts are copied on write: `keyed` stays at the key
        mac.update(data: message)
        return VisitTracker.firstWord(mac.finalize())
    }
}

extension VisitTracker {
    /// The visitor: a keyed hash of the day's salt, the site, the address and the user agent,
    /// or, when the client names its user, of the site and `userid` (the same on every day).
    /// Hashing many events under one salt: `VisitorHasher`.
    public static func visitorID(salt: [UInt8], siteID: String, address: String, userAgent: String, userID: String?) -> Int64 {
        if let userID { return namedVisitorID(siteID: siteID, userID: userID) }
        return VisitorHasher(salt: salt).visitorID(siteID: siteID, address: address, userAgent: userAgent)
    }

    /// A named user's visitor: SHA-256 of `user NUL site NUL userid`.
    public static func namedVisitorID(siteID: String, userID: String) -> Int64 {
        var hasher = SHA256()
        hasher.update(text: "user\u{0}")
        hasher.update(text: siteID)
        hasher.update(text: "\u{0}")
        hasher.update(text: userID)
        return firstWord(hasher.finalize())
    }

    /// The id of a visit started by `eventID` of `visitorID`, or with `window` of a visit not
    /// tracked: SHA-256 of `visitorID NUL seed` (the id in decimal).
    public static func sessionID(visitorID: Int64, seed: String) -> Int64 {
        var hasher = SHA256()
        hasher.update(text: String(visitorID))
        hasher.update(text: "\u{0}")
        hasher.update(text: seed)
        return firstWord(hasher.finalize())
    }

    /// The id of an untracked visit: `visitorID`'s visit in the 30-minute window of `timestamp`.
    static func windowSessionID(visitorID: Int64, timestamp: Int64) -> Int64 {
        sessionID(visitorID: visitorID, seed: "window:" + String(bucket(of: timestamp)))
    }

    /// The first 8 bytes of a digest, big-endian, as a signed id.
    static func firstWord(_ digest: some Sequence<UInt8>) -> Int64 {
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }
}

extension SHA256 {
    /// Hashes the UTF-8 of `text` without copying it into an array.
    mutating func update(text: String) {
        var text = text
        text.withUTF8 { update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }
}
