import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// The read-only Sites API the dashboard's site picker uses, through the real router over the
/// real Redis and MongoDB: which sites a key lists, each site's time zone, and who may ask.
struct SitesAPITests {
    static let missing = "Missing API key. Please use a valid API key as a Bearer Token."
    static let invalid = "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested."

    /// What a test works with: the servers, a client of the real router, and three added sites:
    /// `paris.test` (Europe/Paris), `public.test` (America/New_York, public), `other.test` (UTC).
    struct Fixture: Sendable {
        let servers: TestServers
        let client: any TestClientProtocol

        /// A key made as `Worker keys create` makes it; its text and its id.
        func key(sites: [String] = [], allSites: Bool = false, scopes: [String] = []) async throws -> (text: String, id: String) {
            let created = try await APIKeyStore(store: servers.store).create(name: "sites", sites: sites, allSites: allSites, scopes: scopes, now: 1)
            return (created.key, created.record.id)
        }

        /// `GET uri` with `key` as a bearer token when given; the status, body and headers.
        func get(_ uri: String, key: String?) async throws -> (answer: StatsAPITests.Answer, headers: HTTPFields) {
            var headers: HTTPFields = [:]
            if let key { headers[.authorization] = "Bearer " + key }
            return try await client.execute(uri: uri, method: .get, headers: headers) { response in
                (StatsAPITests.Answer(status: response.status, body: String(buffer: response.body), contentType: response.headers[.contentType]), response.headers)
            }
        }
    }

    /// Runs `body` over fresh servers with the three sites added; lookups are not cached (a
    /// revocation shows at once) and each key may make `rateLimit` reads an hour.
    static func withSites(rateLimit: Int = 10_000, _ body: @Sendable (Fixture) async throws -> Void) async throws {
        try await TestServers.with { servers in
            let sites = SiteStore(store: servers.store)
            _ = try await sites.add(try Site.make(domain: "paris.test", timeZone: "Europe/Paris", createdAt: 1))
            _ = try await sites.add(try Site.make(domain: "public.test", timeZone: "America/New_York", isPublic: true, createdAt: 1))
            _ = try await sites.add(try Site.make(domain: "other.test", createdAt: 1))
            var dependencies = StatsAPITests.dependencies(servers)
            dependencies.access = StatsAccess(
                store: servers.store, rateLimit: KeyRateLimit(redis: servers.redis, keys: servers.configuration.keys, limit: rateLimit, window: .seconds(3600)),
                cacheTTL: .zero, logger: servers.logger)
            try await Application(router: buildRouter(dependencies)).test(.router) { client in
                try await body(Fixture(servers: servers, client: client))
            }
        }
    }

    /// `sites` of a list answer as `[domain, timezone]` pairs, in the order given.
    static func pairs(_ answer: StatsAPITests.Answer) -> [[String]] {
        (answer.object["sites"] as? [[String: Any]] ?? []).map { [$0["domain"] as? String ?? "?", $0["timezone"] as? String ?? "?"] }
    }

    @Test func aKeyListsExactlyItsSitesWithTheirTimeZonesByDomain() async throws {
        try await Self.withSites { site in
            let key = try await site.key(sites: ["paris.test", "never-added.test"])
            let (answer, _) = try await site.get("/api/v1/sites", key: key.text)
            #expect(answer.status == .ok, "\(answer)")
            #expect(answer.contentType == "application/json; charset=utf-8")
            #expect(Self.pairs(answer) == [["never-added.test", "UTC"], ["paris.test", "Europe/Paris"]], "\(answer)")
            #expect((answer.object["sites"] as? [[String: Any]])?.allSatisfy { $0.keys.sorted() == ["domain", "timezone"] } == true)
            let meta = answer.object["meta"] as? [String: Any]
            #expect(meta?.count == 1 && StatsAPITests.number(meta?["limit"]) == Double(SitesController.maxSites), "\(answer)")
        }
    }

    @Test func aKeyForAllSitesListsEveryAddedSite() async throws {
        try await Self.withSites { site in
            let key = try await site.key(allSites: true)
            let (answer, _) = try await site.get("/api/v1/sites", key: key.text)
            #expect(answer.status == .ok, "\(answer)")
            #expect(Self.pairs(answer) == [["other.test", "UTC"], ["paris.test", "Europe/Paris"], ["public.test", "America/New_York"]], "\(answer)")
        }
    }

    @Test func listingSitesNeedsAKeyThatIsValidUnrevokedAndMayReadStats() async throws {
        try await Self.withSites { site in
            let revoked = try await site.key(sites: ["paris.test"])
            _ = try await APIKeyStore(store: site.servers.store).revoke(id: revoked.id, now: 2)
            let eventsOnly = try await site.key(sites: ["paris.test"], scopes: [APIScope.eventsRead])
            let unknown = "pk_" + String(repeating: "0", count: 64)
            let cases: [(String?, String)] = [(nil, Self.missing), (revoked.text, Self.invalid), (eventsOnly.text, Self.invalid), (unknown, Self.invalid), ("not-a-key", Self.invalid)]
            for (key, message) in cases {
                let (answer, headers) = try await site.get("/api/v1/sites", key: key)
                #expect(answer.status == .unauthorized, "\(key ?? "no key"): \(answer)")
                #expect(answer.object.keys.sorted() == ["error"] && answer.object["error"] as? String == message, "\(key ?? "no key"): \(answer)")
                #expect(headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
        }
    }

    @Test func listingSitesCountsAgainstTheKeysRateLimit() async throws {
        try await Self.withSites(rateLimit: 2) { site in
            let key = try await site.key(sites: ["paris.test"])
            #expect(try await site.get("/api/v1/sites", key: key.text).answer.status == .ok)
            #expect(try await site.get("/api/v1/sites/paris.test", key: key.text).answer.status == .ok)
            let (refused, headers) = try await site.get("/api/v1/sites", key: key.text)
            #expect(refused.status == .tooManyRequests, "\(refused)")
            #expect((refused.object["error"] as? String)?.hasPrefix("Too many API requests.") == true, "\(refused)")
            #expect(headers[.retryAfter] != nil && headers[.rateLimitLimit] == "2")
        }
    }

    @Test func aSiteAnswersItsTimeZoneToWhoeverMayReadItsStats() async throws {
        try await Self.withSites { site in
            let paris = try await site.key(sites: ["paris.test", "never-added.test"])
            let other = try await site.key(sites: ["other.test"])
            let revoked = try await site.key(sites: ["paris.test"])
            _ = try await APIKeyStore(store: site.servers.store).revoke(id: revoked.id, now: 2)
            let cases: [(site: String, key: String?, status: HTTPResponse.Status, expected: String)] = [
                ("public.test", nil, .ok, #"{"domain":"public.test","timezone":"America/New_York"}"#),
                ("public.test", other.text, .ok, #"{"domain":"public.test","timezone":"America/New_York"}"#),
                ("paris.test", paris.text, .ok, #"{"domain":"paris.test","timezone":"Europe/Paris"}"#),
                ("never-added.test", paris.text, .ok, #"{"domain":"never-added.test","timezone":"UTC"}"#),
                ("paris.test", nil, .unauthorized, Self.missing),
                ("paris.test", other.text, .unauthorized, Self.invalid),
                ("paris.test", revoked.text, .unauthorized, Self.invalid),
                ("never-added.test", nil, .unauthorized, Self.missing),
                ("not%20a%20domain", paris.text, .unauthorized, Self.invalid),
            ]
            for (name, key, status, expected) in cases {
                let (answer, _) = try await site.get("/api/v1/sites/" + name, key: key)
                #expect(answer.status == status, "\(name) with \(key == nil ? "no key" : "a key"): \(answer)")
                if status == .ok {
                    #expect(answer.body == expected, "\(name)")
                } else {
                    #expect(answer.object.keys.sorted() == ["error"] && answer.object["error"] as? String == expected, "\(name): \(answer)")
                }
            }
        }
    }
}
