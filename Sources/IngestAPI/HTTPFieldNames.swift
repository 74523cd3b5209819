import Hummingbird

/// Header names Hummingbird does not predefine; constant, valid tokens, so `init?` cannot fail.
extension HTTPFields.Element.Name {
    /// `X-Forwarded-For`, believed only behind `TRUST_PROXY`.
    static let xForwardedFor = Self("X-Forwarded-For")!
    /// `RateLimit-Limit` (IETF draft RateLimit header fields).
    static let rateLimitLimit = Self("RateLimit-Limit")!
    /// `RateLimit-Remaining`.
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    /// `RateLimit-Reset`, in seconds.
    static let rateLimitReset = Self("RateLimit-Reset")!
}
