import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared

/// Sites, API keys and who may read which site's stats, against the real Redis and MongoDB:
/// answers as Plausible's Stats API gives them, a key for one site never reads another.
struct AccessTests {
    /// An access check over `servers` with no lookup cache (a revocation shows at once) and a
    /// rate limit of `limit` reads a minute.
    static func access(_ servers: TestServers, limit: Int = 100, requireKeyForSeedStats: Bool = false) -> StatsAccess {
        StatsAccess(
            store: servers.store, rateLimit: KeyRateLimit(redis: servers.redis, keys: servers.configuration.keys, limit: limit, window: .seconds(60)),
            requireKeyForSeedStats: requireKeyForSeedStats, cacheTTL: .zero, logger: servers.logger)
    }

    /// A key made through the store, as `Worker keys create` makes it.
    static func key(_ servers: TestServers, sites: [String] = [], allSites: Bool = false, scopes: [String] = []) async throws -> String {
        try await APIKeyStore(store: servers.store).create(name: "test", sites: sites, allSites: allSites, scopes: scopes, now: 1_000).key
    }

    /// Why `authorize` refused, or nil when it allowed the read.
    static func refusal(_ access: StatsAccess, _ credential: BearerCredential, site: String, scope: String = APIScope.statsRead) async -> StatsAccessError? {
        do {
            _ = try await access.authorize(credential, siteID: site, scope: scope)
            return nil
        } catch {
            return error
        }
    }

    @Test func sitesAreAddedListedAndDeletedAndAddingOneTwiceIsRefused() async throws {
        try await TestServers.with { servers in
            let sites = SiteStore(store: servers.store)
            _ = try await sites.add(try Site.make(domain: "b.example", timeZone: "Europe/Paris", isPublic: true, createdAt: 1_700_000_000_000))
            _ = try await sites.add(try Site.make(domain: "a.example", createdAt: 1_700_000_000_001))
            await #expect(throws: AccessError.siteExists("a.example")) { try await sites.add(Site(domain: "a.example")) }
            let listed = try await sites.list()
            #expect(listed.map(\.domain) == ["a.example", "b.example"])
            #expect(listed.last == Site(domain: "b.example", timeZone: "Europe/Paris", isPublic: true, createdAt: 1_700_000_000_000))
            #expect(try await sites.get("a.example")?.timeZone == "UTC")
            #expect(try await sites.get("c.example") == nil)
            #expect(try await sites.get(#"{"$ne": null}"#) == nil)
            #expect(try await sites.delete("a.example"))
            #expect(try await !sites.delete("a.example"))
            #expect(try await sites.list().map(\.domain) == ["b.example"])
        }
    }

    @Test func aKeyIsStoredOnlyAsItsHashListedByItsIdAndRevoked() async throws {
        try await TestServers.with { servers in
            let keys = APIKeyStore(store: servers.store)
            let (key, record) = try await keys.create(
                name: " CI dashboard ", sites: ["a.example", "a.example", "b.example"], allSites: false, scopes: [], now: 42)
            #expect(APIKeySecret.isWellFormed(key))
            #expect(record.id == APIKeySecret.id(of: key) && record.hash == APIKeySecret.hash(key))
            #expect(record.name == "CI dashboard" && record.sites == ["a.example", "b.example"] && record.scopes == ["stats:read"])
            #expect(try await keys.find(key: key) == record)
            #expect(try await keys.find(key: APIKeySecret.generate()) == nil)
            #expect(try await !storedText(servers).contains(String(key.dropFirst(3))))
            #expect(try await keys.list() == [record])

            let revoked = try await keys.revoke(id: record.id, now: 43)
            #expect(revoked.revokedAt == 43)
            #expect(try await keys.list().first?.revokedAt == 43)
            await #expect(throws: AccessError.keyAlreadyRevoked(record.id)) { try await keys.revoke(id: record.id, now: 44) }
            await #expect(throws: AccessError.keyNotFound("00000000")) { try await keys.revoke(id: "00000000", now: 44) }
            await #expect(throws: AccessError.invalidKeyID("$ne")) { try await keys.revoke(id: "$ne", now: 44) }
            await #expect(throws: AccessError.self) { try await keys.create(name: "x", sites: [], allSites: false, scopes: [], now: 1) }
            await #expect(throws: AccessError.self) { try await keys.create(name: "x", sites: ["a.example"], allSites: true, scopes: [], now: 1) }
            await #expect(throws: AccessError.unknownScope("admin")) { try await keys.create(name: "x", sites: ["a"], allSites: false, scopes: ["admin"], now: 1) }
            await #expect(throws: AccessError.self) { try await keys.create(name: "\u{7}", sites: ["a"], allSites: false, scopes: [], now: 1) }
        }
    }

    @Test func workerKeysCreatePrintsTheKeyAloneOnItsLastLineAndStoresOnlyItsHash() async throws {
        try await TestServers.with { servers in
            let created = try await WorkerProcess.run(servers, ["keys", "create", "--name", "ops", "--site", "a.example"])
            #expect(created.status == 0, "\(created.output)")
            let lines = created.output.split(separator: "\n")
            let key = String(lines.last ?? "")
            #expect(APIKeySecret.isWellFormed(key), "\(created.output)")
            #expect(lines.dropLast().allSatisfy { !$0.contains(key.dropFirst(3)) })
            #expect(try await APIKeyStore(store: servers.store).find(key: key)?.sites == ["a.example"])
            #expect(try await !storedText(servers).contains(String(key.dropFirst(3))))

            let listed = try await WorkerProcess.run(servers, ["keys", "list"])
            #expect(listed.status == 0 && listed.output.contains(APIKeySecret.id(of: key)))
            #expect(!listed.output.contains(key.dropFirst(11)) && !listed.output.contains(APIKeySecret.hash(key)))
            let revoked = try await WorkerProcess.run(servers, ["keys", "revoke", APIKeySecret.id(of: key)])
            #expect(revoked.status == 0, "\(revoked.output)")
            #expect(try await APIKeyStore(store: servers.store).find(key: key)?.revokedAt != nil)

            let added = try await WorkerProcess.run(servers, ["sites", "add", "a.example", "--timezone", "Europe/Paris", "--public"])
            #expect(added.status == 0, "\(added.output)")
            #expect(try await SiteStore(store: servers.store).get("a.example")?.isPublic == true)
            let refused = try await WorkerProcess.run(servers, ["sites", "add", "b.example", "--timezone", "Mars/Olympus"])
            #expect(refused.status != 0 && refused.output.contains("IANA"))
        }
    }

    @Test func aPublicSiteIsReadWithoutAKeyAndAPrivateOneIsNot() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers)
            _ = try await SiteStore(store: servers.store).add(try Site.make(domain: "open.example", timeZone: "Europe/Paris", isPublic: true, createdAt: 1))
            _ = try await SiteStore(store: servers.store).add(try Site.make(domain: "closed.example", createdAt: 1))
            let site = try await access.authorize(.missing, siteID: "open.example", scope: APIScope.statsRead)
            #expect(site.timeZone == "Europe/Paris")
            #expect(await Self.refusal(access, .malformed, site: "open.example")?.status == .unauthorized)
            let missing = await Self.refusal(access, .missing, site: "closed.example")
            #expect(missing?.status == .unauthorized && missing?.message.hasPrefix("Missing API key") == true)
            #expect(missing?.headers[.wwwAuthenticate] == "Bearer")
            #expect(await Self.refusal(access, .missing, site: "never-added.example")?.status == .unauthorized)
            #expect(await Self.refusal(access, .malformed, site: "closed.example")?.status == .unauthorized)
        }
    }

    @Test func aKeyForOneSiteCannotReadAnotherNorWithoutItsScope() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers)
            _ = try await SiteStore(store: servers.store).add(try Site.make(domain: "mine.example", timeZone: "Asia/Tokyo", createdAt: 1))
            _ = try await SiteStore(store: servers.store).add(try Site.make(domain: "theirs.example", createdAt: 1))
            let key = try await Self.key(servers, sites: ["mine.example"])
            #expect(try await access.authorize(.key(key), siteID: "mine.example", scope: APIScope.statsRead).timeZone == "Asia/Tokyo")
            for site in ["theirs.example", "never-added.example", "bad/site"] {
                let refused = await Self.refusal(access, .key(key), site: site)
                #expect(refused?.status == .unauthorized, "\(site)")
                #expect(refused?.message == "Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested.")
            }
            #expect(await Self.refusal(access, .key(key), site: "mine.example", scope: APIScope.eventsRead)?.status == .unauthorized)
            #expect(await Self.refusal(access, .key(APIKeySecret.generate()), site: "mine.example")?.status == .unauthorized)
        }
    }

    @Test func anAllSitesKeyReadsSitesNeverAddedInUTC() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers)
            let key = try await Self.key(servers, allSites: true)
            #expect(try await access.authorize(.key(key), siteID: "never-added.example", scope: APIScope.statsRead) == .unlisted("never-added.example"))
            #expect(Site.unlisted("x").timeZone == "UTC")
        }
    }

    @Test func aRevokedKeyIsRefusedOnceTheCacheHasExpired() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers)
            let key = try await Self.key(servers, sites: ["a.example"])
            _ = try await access.authorize(.key(key), siteID: "a.example", scope: APIScope.statsRead)
            _ = try await APIKeyStore(store: servers.store).revoke(id: APIKeySecret.id(of: key), now: 2)
            #expect(await Self.refusal(access, .key(key), site: "a.example")?.status == .unauthorized)
        }
    }

    @Test func overTheLimitAKeyGets429WithRetryAfterAndOtherKeysAreNotCounted() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers, limit: 3)
            let key = try await Self.key(servers, sites: ["a.example"])
            for _ in 0..<3 { _ = try await access.authorize(.key(key), siteID: "a.example", scope: APIScope.statsRead) }
            let refused = await Self.refusal(access, .key(key), site: "a.example")
            #expect(refused?.status == .tooManyRequests)
            let retryAfter = Int(refused?.headers[.retryAfter] ?? "")
            #expect(retryAfter.map { (1...60).contains($0) } == true)
            #expect(refused?.headers[.rateLimitRemaining] == "0" && refused?.headers[.rateLimitLimit] == "3")
            #expect(refused?.message.hasPrefix("Too many API requests. Your API key is limited to 3 requests per 1m.") == true)
            let other = try await Self.key(servers, sites: ["a.example"])
            _ = try await access.authorize(.key(other), siteID: "a.example", scope: APIScope.statsRead)
            let ttl = try await servers.redis.send(RedisCommand("PTTL", servers.configuration.keys.statsKeyRate(APIKeySecret.hash(key)))).int
            #expect(ttl.map { (1...60_000).contains($0) } == true)
        }
    }

    @Test func withRedisDownAKeyedReadIsRefusedWith503NotLetThrough() async throws {
        try await TestServers.with { servers in
            let down = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:1/0"), maxConnections: 1, logger: servers.logger)
            let access = StatsAccess(
                store: servers.store, rateLimit: KeyRateLimit(redis: down, keys: servers.configuration.keys), cacheTTL: .zero, logger: servers.logger)
            let key = try await Self.key(servers, sites: ["a.example"])
            let refused = await Self.refusal(access, .key(key), site: "a.example")
            #expect(refused?.status == .serviceUnavailable && refused?.headers[.retryAfter] != nil)
            await down.shutdown()
        }
    }

    @Test func routesAnswerRefusalsInPlausiblesShape() async throws {
        try await TestServers.with { servers in
            let access = Self.access(servers)
            let router = Router(context: IngestRequestContext.self)
            router.add(middleware: JSONErrorMiddleware(routes: [:]))
            router.get("/probe") { request, _ in
                try await access.authorize(request, siteID: request.uri.queryParameters.get("site_id"), scope: APIScope.statsRead).timeZone
            }
            let key = try await Self.key(servers, sites: ["a.example"])
            try await Application(router: router).test(.router) { client in
                let cases: [(String, HTTPFields, HTTPResponse.Status, String?)] = [
                    ("/probe?site_id=a.example", [:], .unauthorized, "Missing API key. Please use a valid API key as a Bearer Token."),
                    ("/probe?site_id=a.example", [.authorization: "Bearer nope"], .unauthorized, nil),
                    ("/probe?site_id=b.example", [.authorization: "Bearer " + key], .unauthorized, nil),
                    ("/probe", [.authorization: "Bearer " + key], .badRequest, "Missing site ID. Please provide the required site_id parameter with your request."),
                    ("/probe?site_id=a.example", [.authorization: "bEaReR   " + key], .ok, nil),
                ]
                for (uri, headers, status, message) in cases {
                    try await client.execute(uri: uri, method: .get, headers: headers) { response in
                        #expect(response.status == status, "\(uri)")
                        if status == .ok {
                            #expect(String(buffer: response.body) == "UTC")
                        } else {
                            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                            let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                            #expect(answer?.keys.sorted() == ["error"], "\(uri)")
                            if let message { #expect(answer?["error"] as? String == message) }
                        }
                    }
                }
            }
        }
    }

    @Test func seedStatsNeedsAKeyOnlyWhenStatsRequireKeyIsSet() async throws {
        try await TestServers.with { servers in
            let key = try await Self.key(servers, sites: ["s"])
            for required in [false, true] {
                var dependencies = IngestDependencies(queue: servers.queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
                dependencies.access = Self.access(servers, requireKeyForSeedStats: required)
                try await Application(router: buildRouter(dependencies)).test(.router) { client in
                    try await client.execute(uri: "/stats?site_id=s&date=2025-11-23", method: .get) { response in
                        #expect(response.status == (required ? .unauthorized : .ok))
                        guard required else { return }
                        let answer = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                        #expect(answer?["success"] as? Bool == false)
                        #expect((answer?["error"] as? [String: Any])?["code"] as? String == "UNAUTHORIZED")
                    }
                    try await client.execute(uri: "/stats?site_id=other&date=2025-11-23", method: .get, headers: [.authorization: "Bearer " + key]) {
                        #expect($0.status == (required ? .unauthorized : .ok))
                    }
                    try await client.execute(uri: "/stats?site_id=s&date=2025-11-23", method: .get, headers: [.authorization: "Bearer " + key]) {
                        #expect($0.status == .ok)
                    }
                }
            }
        }
    }

    @Test func settingsAreReadFromTheEnvironment() throws {
        let configuration = try IngestConfiguration(environment: Environment([
            "STATS_REQUIRE_KEY": "true", "STATS_KEY_RATE_LIMIT": "3", "STATS_KEY_RATE_WINDOW": "90s", "STATS_ACCESS_CACHE_MS": "0",
        ]))
        #expect(configuration.statsRequireKey && configuration.statsKeyRateLimit == 3)
        #expect(configuration.statsKeyRateWindow == .seconds(90) && configuration.statsAccessCacheTTL == .zero)
        let defaults = try IngestConfiguration(environment: Environment([:]))
        #expect(!defaults.statsRequireKey && defaults.statsKeyRateLimit == 600 && defaults.statsKeyRateWindow == .seconds(3600))
        #expect(throws: ConfigurationError.self) { try IngestConfiguration(environment: Environment(["STATS_KEY_RATE_WINDOW": "1 hour"])) }
    }

    /// Every string stored in `api_keys`, joined: the key itself must never be among them.
    func storedText(_ servers: TestServers) async throws -> String {
        let texts = try await servers.store.find(APIKeyStore.collectionName, filterJSON: "{}") { document in
            document.compactMap(\.value.text).joined(separator: " ")
        }
        return texts.joined(separator: "\n")
    }
}
