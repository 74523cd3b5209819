import Hummingbird

/// Header names Hummingbird does not predefine; constant, valid tokens, so `init?` cannot fail.
extension HTTPFields.Element.Name {
    /// `X-Forwarded-For`, believed only behind `TRUST_PROXY`.
    static let xForwardedFor = Self("X-Forwarded-For")!
    /// `Forwarded` (RFC 7239).
    static let forwarded = Self("Forwarded")!
    /// `X-Real-IP`, as nginx setups often send it.
    static let xRealIP = Self("X-Real-IP")!
    /// Headers only a proxy adds: a request with any of them came through one.
    static let proxyHeaders: [Self] = [.xForwardedFor, .forwarded, .xRealIP]
    /// `RateLimit-Limit` (IETF draft RateLimit header fields).
    static let rateLimitLimit = Self("RateLimit-Limit")!
    /// `RateLimit-Remaining`.
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    /// `X-Pipeline-Dropped`: why an accepted event was not queued (`bot`).
    static let pipelineDropped = Self("X-Pipeline-Dropped")!
    /// `X-Plausible-Dropped: 1`, as Plausible says an event was dropped.
    static let plausibleDropped = Self("X-Plausible-Dropped")!
    /// `RateLimit-Reset`, in seconds.
    static let rateLimitReset = Self("RateLimit-Reset")!
    /// `Referrer-Policy`.
    static let referrerPolicy = Self("Referrer-Policy")!
    /// `X-Frame-Options`, for browsers that predate CSP's `frame-ancestors`.
    static let xFrameOptions = Self("X-Frame-Options")!
}
