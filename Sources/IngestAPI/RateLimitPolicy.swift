import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Shared

/// Which rate limits apply to an event: the environment's defaults, overridden per site by
/// the limits kept in Redis, which are re-read at most once a second (in the background, so
/// no request waits for it).
final class RateLimitPolicy: Sendable {
    private let defaults: RateLimits
    private let store: RateLimitStore
    private let trustedProxies: Int
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var overrides: [String: RateLimits] = [:]
        var loadedAt: ContinuousClock.Instant?
        var loading = false
    }

    /// A policy with `defaults`, per-site overrides from `store`, and `trustedProxies` hops of `X-Forwarded-For` believed.
    init(defaults: RateLimits, store: RateLimitStore, trustedProxies: Int, logger: Logger) {
        self.defaults = defaults
        self.store = store
        self.trustedProxies = trustedProxies
        self.logger = logger
    }

    /// Re-reads the per-site overrides now.
    func reload() async {
        do {
            let overrides = try await store.all()
            state.withLockedValue { $0.overrides = overrides; $0.loadedAt = .now; $0.loading = false }
        } catch {
            state.withLockedValue { $0.loadedAt = .now; $0.loading = false }
            logger.warning("could not read rate limits; keeping the ones in force", metadata: ["error": "\(error)"])
        }
    }

    /// The queue items for `events` from `address`, each with the limits of its site.
    func items(for events: some Collection<Event>, address: String?) -> [QueueItem] {
        let (overrides, refresh) = state.withLockedValue { state -> ([String: RateLimits], Bool) in
            let stale = state.loadedAt.map { ContinuousClock.now - $0 > .seconds(1) } ?? true
            let refresh = stale && !state.loading
            if refresh { state.loading = true }
            return (state.overrides, refresh)
        }
        if refresh { Task { await self.reload() } }
        return events.map { event in
            let limits = overrides.isEmpty ? defaults : overrides[event.siteID].map(defaults.overridden(by:)) ?? defaults
            var entries: [(scope: RateLimitScope, key: String, limit: RateLimit)] = []
            if let limit = limits.site { entries.append((.site, event.siteID, limit)) }
            if let limit = limits.user, let user = event.userID { entries.append((.user, event.siteID + "|" + user, limit)) }
            if let limit = limits.address, let address { entries.append((.address, address, limit)) }
            return QueueItem(payload: event.queuePayload, limits: entries)
        }
    }

    /// The client's address (rate-limited by `rateLimitKey`, IPv6 by /64): the socket peer, or
    /// with `TRUST_PROXY=n` the n-th entry from the right of `X-Forwarded-For` (the one our own
    /// proxy added), never one the client wrote. A header too short or malformed for that falls
    /// back to the socket peer.
    func clientAddress(_ request: Request, peer: SocketAddress?) -> ClientAddress? {
        let socket = peer?.ipAddress.flatMap { ClientAddress($0) }
        guard trustedProxies > 0 else { return socket }
        let forwarded = ClientAddress.forwarded(request.headers[values: .xForwardedFor], trustedProxies: trustedProxies)
        return forwarded ?? socket
    }
}

/// The request context of IngestAPI: Hummingbird's core storage plus the socket peer's address.
struct IngestRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage.
    var coreContext: CoreRequestContextStorage
    /// The connected client (the last proxy, behind one).
    let remoteAddress: SocketAddress?

    /// Takes the peer address from the channel.
    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
