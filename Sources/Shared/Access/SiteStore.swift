/// The sites added with `Worker sites add`, in the `sites` collection (`_id` = domain). Ingest
/// never consults it; reads do, for a site's time zone and whether it is public. Deleting a
/// site keeps its events.
public struct SiteStore: Sendable {
    /// The collection sites are kept in.
    public static let collectionName = "sites"

    /// The MongoDB store the collection lives in.
    public let store: MongoStore

    /// A site store over `store`'s database.
    public init(store: MongoStore) {
        self.store = store
    }

    /// Adds `site`; `AccessError.siteExists` when its domain was added already.
    public func add(_ site: Site) async throws -> Site {
        let document = JSONValue.object([
            ("_id", .string(site.domain)), ("time_zone", .string(site.timeZone)), ("public", .bool(site.isPublic)),
            ("created_at", MongoStore.date(site.createdAt)),
        ])
        do {
            try await store.insertOne(document, into: Self.collectionName)
        } catch {
            throw error.code == MongoError.duplicateKey ? AccessError.siteExists(site.domain) : error
        }
        return site
    }

    /// The added sites, by domain: every one, or the first `limit` when given.
    public func list(limit: Int? = nil) async throws(MongoError) -> [Site] {
        try await store.find(Self.collectionName, filterJSON: "{}", sortJSON: #"{"_id": 1}"#, limit: limit.map { max(1, $0) }, decode: Self.decode)
    }

    /// The sites added among `domains`, by domain, in one query; domains that cannot be a site
    /// are skipped with no lookup. The caller bounds `domains`.
    public func get(domains: [String]) async throws(MongoError) -> [Site] {
        let valid = domains.filter(Site.isValidDomain)
        guard !valid.isEmpty else { return [] }
        let filter = JSONValue.object([("_id", .object([("$in", .array(valid.map(JSONValue.string)))]))]).serialized
        return try await store.find(Self.collectionName, filterJSON: filter, sortJSON: #"{"_id": 1}"#, limit: valid.count, decode: Self.decode)
    }

    /// The site added as `domain`, or nil (also for a domain that cannot be a site, with no lookup).
    public func get(_ domain: String) async throws(MongoError) -> Site? {
        guard Site.isValidDomain(domain) else { return nil }
        let filter = JSONValue.object([("_id", .string(domain))]).serialized
        return try await store.find(Self.collectionName, filterJSON: filter, limit: 1, decode: Self.decode).first
    }

    /// Removes the site (not its events); false when it was not added.
    public func delete(_ domain: String) async throws(MongoError) -> Bool {
        guard Site.isValidDomain(domain) else { return false }
        return try await store.deleteOne(.object([("_id", .string(domain))]), from: Self.collectionName) > 0
    }

    /// A site from its stored document; nil when it has no domain.
    @Sendable static func decode(_ document: BSONReader) -> Site? {
        var site = Site(domain: "")
        for (key, value) in document {
            switch (key, value) {
            case ("_id", .string(let domain)): site.domain = domain
            case ("time_zone", .string(let name)): site.timeZone = name
            case ("public", .bool(let isPublic)): site.isPublic = isPublic
            case ("created_at", .date(let millis)): site.createdAt = millis
            default: break
            }
        }
        return site.domain.isEmpty ? nil : site
    }
}
