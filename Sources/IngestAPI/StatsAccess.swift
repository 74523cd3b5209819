import Hummingbird
import Logging
import NIOConcurrencyHelpers
import Shared

/// Who may read a site's stats. A public site: anyone. Otherwise an `Authorization: Bearer KEY`
/// whose key is not revoked, holds the scope and covers the site (or all sites); every key is
/// rate-limited per key in Redis. Answers follow Plausible's Stats API: 401 for a missing,
/// unknown or revoked key and for a key without access to the site, 429 over the limit, 400
/// without `site_id`. Redis or MongoDB down: 503, never an unchecked read.
///
/// Sites and keys are looked up at most once per `cacheTTL` (5 s by default, per API
/// instance): a revoked key or a site made private keeps working for at most that long.
struct StatsAccess: Sendable {
    /// The added sites (time zone, public flag).
    let sites: SiteStore
    /// The keys, by hash.
    let keys: APIKeyStore
    /// Reads per key and window.
    let rateLimit: KeyRateLimit
    /// Seed 004's `/stats` asks for a key only when true (`STATS_REQUIRE_KEY`).
    let requireKeyForSeedStats: Bool
    private let siteCache: LookupCache<Site?>
    private let keyCache: LookupCache<APIKey?>
    private let logger: Logger

    /// Access decided from `store`'s sites and keys and `rateLimit`; lookups cached for `cacheTTL`,
    /// at most `cacheSize` of each kept.
    init(
        store: MongoStore, rateLimit: KeyRateLimit, requireKeyForSeedStats: Bool = false, cacheTTL: Duration = .seconds(5),
        cacheSize: Int = 10_000, logger: Logger = Logger(label: "IngestAPI")
    ) {
        sites = SiteStore(store: store)
        keys = APIKeyStore(store: store)
        self.rateLimit = rateLimit
        self.requireKeyForSeedStats = requireKeyForSeedStats
        siteCache = LookupCache(ttl: cacheTTL, capacity: cacheSize)
        keyCache = LookupCache(ttl: cacheTTL, capacity: cacheSize)
        self.logger = logger
    }

    /// Decides whether `request` may read `siteID` with `scope` (`APIScope.statsRead`, …) and
    /// returns the site (for its time zone; a site never added reads as UTC). The error thrown
    /// is answered in Plausible's shape, `{"error": "…"}`, when the route lets it through.
    func authorize(_ request: Request, siteID: String?, scope: String) async throws(StatsAccessError) -> Site {
        guard let siteID, !siteID.isEmpty else { throw StatsAccessError(.missingSiteID) }
        return try await authorize(BearerCredential.parse(authorization: request.headers[values: .authorization]), siteID: siteID, scope: scope)
    }

    /// `authorize` for seed 004's `/stats`: nothing is checked unless `requireKeyForSeedStats`,
    /// and refusals are answered in our own error shape.
    func authorizeSeedStats(_ request: Request, siteID: String) async throws(APIError) -> Site {
        guard requireKeyForSeedStats else { return .unlisted(siteID) }
        do {
            return try await authorize(request, siteID: siteID, scope: APIScope.statsRead)
        } catch {
            throw error.apiError
        }
    }

    /// The decision for an offered credential, in Plausible's order: the key, then its rate
    /// limit, then its scope and site. A public site's stats (`stats:read`) need no key; a key
    /// offered for one is still checked and counted. Its raw events (`events:read`) do.
    func authorize(_ credential: BearerCredential, siteID: String, scope: String) async throws(StatsAccessError) -> Site {
        let site = try await lookUpSite(siteID)
        let key: APIKey
        switch credential {
        case .missing:
            if let site, site.isPublic, scope == APIScope.statsRead { return site }
            throw StatsAccessError(.missingKey)
        case .malformed:
            throw StatsAccessError(.invalidKey)
        case .key(let text):
            key = try await countedKey(text)
        }
        if let site, site.isPublic, scope == APIScope.statsRead { return site }
        guard key.allows(scope: scope), Site.isValidDomain(siteID), key.covers(site: siteID) else { throw StatsAccessError(.invalidKey) }
        return site ?? .unlisted(siteID)
    }

    /// The key `request` offers, for a read that names no site (the list of sites): required,
    /// looked up, counted against its rate limit, then checked for `scope`, in `authorize`'s order.
    func authorizeKey(_ request: Request, scope: String) async throws(StatsAccessError) -> APIKey {
        switch BearerCredential.parse(authorization: request.headers[values: .authorization]) {
        case .missing: throw StatsAccessError(.missingKey)
        case .malformed: throw StatsAccessError(.invalidKey)
        case .key(let text):
            let key = try await countedKey(text)
            guard key.allows(scope: scope) else { throw StatsAccessError(.invalidKey) }
            return key
        }
    }

    /// The stored key of `text` when it exists and is not revoked, after counting one read of it.
    private func countedKey(_ text: String) async throws(StatsAccessError) -> APIKey {
        guard let key = try await lookUpKey(text), key.revokedAt == nil else { throw StatsAccessError(.invalidKey) }
        let decision: KeyRateLimit.Decision
        do {
            decision = try await rateLimit.hit(keyHash: key.hash)
        } catch {
            logger.warning("stats access: Redis unavailable for the key rate limit", metadata: ["error": "\(error)"])
            throw StatsAccessError(.unavailable("the rate limiter is unavailable; retry later"))
        }
        guard decision.allowed else { throw StatsAccessError(.rateLimited(decision, window: rateLimit.window)) }
        return key
    }

    /// The sites `key` may read, by domain, at most `limit`: every added site for a key of all
    /// sites, else the key's own domains, each as added (its time zone) or UTC when never added.
    func readableSites(by key: APIKey, limit: Int) async throws(StatsAccessError) -> [Site] {
        do {
            if key.allSites { return try await sites.list(limit: limit) }
            let domains = Set(key.sites.filter(Site.isValidDomain)).sorted().prefix(limit)
            let added = try await sites.get(domains: Array(domains))
            let byDomain = Dictionary(added.map { ($0.domain, $0) }, uniquingKeysWith: { first, _ in first })
            return domains.map { byDomain[$0] ?? .unlisted($0) }
        } catch {
            logger.warning("stats access: cannot read sites", metadata: ["error": "\(error)"])
            throw StatsAccessError(.unavailable("the site directory is unavailable; retry later"))
        }
    }

    private func lookUpSite(_ domain: String) async throws(StatsAccessError) -> Site? {
        guard Site.isValidDomain(domain) else { return nil }
        do {
            return try await siteCache.value(for: domain) { try await sites.get(domain) }
        } catch {
            logger.warning("stats access: cannot read sites", metadata: ["error": "\(error)"])
            throw StatsAccessError(.unavailable("the site directory is unavailable; retry later"))
        }
    }

    private func lookUpKey(_ key: String) async throws(StatsAccessError) -> APIKey? {
        let hash = APIKeySecret.hash(key)
        do {
            return try await keyCache.value(for: hash) { try await keys.find(key: key) }
        } catch {
            logger.warning("stats access: cannot read API keys", metadata: ["error": "\(error)"])
            throw StatsAccessError(.unavailable("the key directory is unavailable; retry later"))
        }
    }
}

/// A read refused by `StatsAccess`, answered as Plausible does (`{"error": "…"}`) when thrown
/// from a route, or in our own shape through `apiError`.
struct StatsAccessError: HTTPResponseError {
    /// Why the read was refused.
    enum Reason: Sendable {
        /// No bearer key was offered.
        case missingKey
        /// The key is unknown, revoked, malformed, lacks the scope or does not cover the site.
        case invalidKey
        /// No `site_id`.
        case missingSiteID
        /// The key used up its reads for this window.
        case rateLimited(KeyRateLimit.Decision, window: Duration)
        /// Redis or MongoDB could not answer: the read is refused, not let through unchecked.
        case unavailable(String)
    }

    /// Why.
    let reason: Reason

    /// An error for `reason`.
    init(_ reason: Reason) { self.reason = reason }

    /// 401, 400, 429 or 503.
    var status: HTTPResponse.Status {
        switch reason {
        case .missingKey, .invalidKey: .unauthorized
        case .missingSiteID: .badRequest
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        }
    }

    /// Plausible's words where Plausible has them.
    var message: String {
        switch reason {
        case .missingKey: "Missing API key. Please use a valid API key as a Bearer Token."
        case .invalidKey: "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested."
        case .missingSiteID: "Missing site ID. Please provide the required site_id parameter with your request."
        case .rateLimited(let decision, let window):
            "Too many API requests. Your API key is limited to \(decision.limit) requests per \(window == .seconds(3600) ? "hour" : DurationText.format(window)). Retry after \(Self.seconds(decision.reset)) s."
        case .unavailable(let detail): "Service unavailable: \(detail)."
        }
    }

    /// `WWW-Authenticate` on 401 (RFC 6750); `Retry-After` and `RateLimit-*` on 429; `Retry-After` on 503.
    var headers: HTTPFields {
        var fields = HTTPFields()
        switch reason {
        case .missingKey: fields[.wwwAuthenticate] = "Bearer"
        case .invalidKey: fields[.wwwAuthenticate] = #"Bearer error="invalid_token""#
        case .missingSiteID: break
        case .rateLimited(let decision, _):
            fields[.retryAfter] = String(Self.seconds(decision.reset))
            fields[.rateLimitLimit] = String(decision.limit)
            fields[.rateLimitRemaining] = String(decision.remaining)
            fields[.rateLimitReset] = String(Self.seconds(decision.reset))
        case .unavailable: fields[.retryAfter] = "5"
        }
        return fields
    }

    /// Plausible's answer: the status and `{"error": message}`.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(status, .object([("error", .string(message))]), headers: headers)
    }

    /// The same refusal in our own error shape (seed 004's `/stats`).
    var apiError: APIError {
        let code: String = switch reason {
        case .missingKey, .invalidKey: "UNAUTHORIZED"
        case .missingSiteID: "VALIDATION_ERROR"
        case .rateLimited: "RATE_LIMITED"
        case .unavailable: "SERVICE_UNAVAILABLE"
        }
        let field: String? = if case .missingSiteID = reason { "site_id" } else { nil }
        return APIError(status: status, detail: ValidationError(code: code, message: message, field: field), headers: headers)
    }

    /// Whole seconds, rounded up, at least 1.
    private static func seconds(_ duration: Duration) -> Int64 {
        max(1, (duration.totalMilliseconds + 999) / 1000)
    }
}

/// Lookups remembered for `ttl` (none when zero), at most `capacity` at once: when full, all are
/// forgotten, so a flood of unknown keys costs lookups, never memory.
final class LookupCache<Value: Sendable>: Sendable {
    private let ttl: Duration
    private let capacity: Int
    private let entries = NIOLockedValueBox([String: (value: Value, expires: ContinuousClock.Instant)]())

    /// A cache keeping values `ttl`, at most `capacity`.
    init(ttl: Duration, capacity: Int) {
        self.ttl = ttl
        self.capacity = max(1, capacity)
    }

    /// The value remembered for `key`, or `load`'s (remembered unless it threw).
    func value(for key: String, load: () async throws -> Value) async throws -> Value {
        guard ttl > .zero else { return try await load() }
        let now = ContinuousClock.now
        if let hit = entries.withLockedValue({ $0[key] }), hit.expires > now { return hit.value }
        let value = try await load()
        entries.withLockedValue { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = (value, now + ttl)
        }
        return value
    }
}
