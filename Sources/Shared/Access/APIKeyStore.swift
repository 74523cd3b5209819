import Foundation

/// API keys in the `api_keys` collection: `_id` is the SHA-256 of the key, never the key. A
/// revoked key is kept, marked with `revoked_at`, so `keys list` still shows it.
public struct APIKeyStore: Sendable {
    /// The collection keys are kept in.
    public static let collectionName = "api_keys"
    /// Longest key name, in characters.
    public static let maxNameLength = 100

    /// The MongoDB store the collection lives in.
    public let store: MongoStore

    /// A key store over `store`'s database.
    public init(store: MongoStore) {
        self.store = store
    }

    /// Makes the key id unique, so `keys revoke ID` names one key; safe to repeat.
    public func ensureIndexes() async throws(MongoError) {
        try await store.createIndexes(
            .array([.object([("key", .object([("prefix", .int(1))])), ("name", .string("prefix_1")), ("unique", .bool(true))])]),
            on: Self.collectionName)
    }

    /// Makes a key for `sites` (or every site), holding `scopes` (`stats:read` when empty). Returns
    /// the key text, to be shown once, and what was stored (its hash, not the key).
    public func create(name: String, sites: [String], allSites: Bool, scopes: [String], now: Int64) async throws -> (key: String, record: APIKey) {
        let name = try Self.validatedName(name)
        let scopes = try APIScope.validated(scopes)
        var domains: [String] = []
        for domain in sites where !domains.contains(domain) {
            guard Site.isValidDomain(domain) else { throw AccessError.invalidDomain(domain) }
            domains.append(domain)
        }
        if allSites, !domains.isEmpty { throw AccessError.invalidKeySites("give --all-sites or --site, not both") }
        if !allSites, domains.isEmpty { throw AccessError.invalidKeySites("give at least one --site DOMAIN, or --all-sites") }
        try await ensureIndexes()
        // Ids are 32 random bits: a clash is rare, and the unique index turns it into a retry.
        for _ in 0..<8 {
            let key = APIKeySecret.generate()
            let record = APIKey(
                hash: APIKeySecret.hash(key), id: APIKeySecret.id(of: key), name: name, sites: domains, allSites: allSites, scopes: scopes,
                createdAt: now)
            guard try await byID(record.id) == nil else { continue }
            do {
                try await store.insertOne(Self.document(record), into: Self.collectionName)
                return (key, record)
            } catch {
                guard error.code == MongoError.duplicateKey else { throw error }
            }
        }
        throw AccessError.noFreeKeyID
    }

    /// Every key, revoked ones included, oldest first; never the key, nor its hash to print.
    public func list() async throws(MongoError) -> [APIKey] {
        try await store.find(Self.collectionName, filterJSON: "{}", sortJSON: #"{"created_at": 1, "prefix": 1}"#, decode: Self.decode)
    }

    /// The stored record of `key` (the full key text), revoked or not; nil when no such key exists.
    public func find(key: String) async throws(MongoError) -> APIKey? {
        guard APIKeySecret.isWellFormed(key) else { return nil }
        let filter = JSONValue.object([("_id", .string(APIKeySecret.hash(key)))]).serialized
        return try await store.find(Self.collectionName, filterJSON: filter, limit: 1, decode: Self.decode).first
    }

    /// The key whose id is `id`, revoked or not.
    func byID(_ id: String) async throws(MongoError) -> APIKey? {
        let filter = JSONValue.object([("prefix", .string(id))]).serialized
        return try await store.find(Self.collectionName, filterJSON: filter, limit: 1, decode: Self.decode).first
    }

    /// Marks the key with id `id` revoked at `now`; returns its record as it now stands.
    public func revoke(id: String, now: Int64) async throws -> APIKey {
        guard APIKeySecret.isWellFormedID(id) else { throw AccessError.invalidKeyID(id) }
        guard var record = try await byID(id) else { throw AccessError.keyNotFound(id) }
        guard record.revokedAt == nil else { throw AccessError.keyAlreadyRevoked(id) }
        record.revokedAt = now
        _ = try await store.replaceOne(.object([("_id", .string(record.hash))]), with: Self.document(record), in: Self.collectionName)
        return record
    }

    /// A name of 1–100 characters, trimmed, without control characters.
    static func validatedName(_ name: String) throws(AccessError) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .invalidKeyName("give a name that says who or what uses the key") }
        guard trimmed.count <= maxNameLength else { throw .invalidKeyName("at most \(maxNameLength) characters") }
        guard trimmed.unicodeScalars.allSatisfy({ $0.properties.generalCategory != .control }) else {
            throw .invalidKeyName("no control characters")
        }
        return trimmed
    }

    /// The stored document of a key.
    static func document(_ key: APIKey) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("_id", .string(key.hash)), ("prefix", .string(key.id)), ("name", .string(key.name)),
            ("sites", .array(key.sites.map(JSONValue.string))), ("all_sites", .bool(key.allSites)),
            ("scopes", .array(key.scopes.map(JSONValue.string))), ("created_at", MongoStore.date(key.createdAt)),
        ]
        if let revokedAt = key.revokedAt { members.append(("revoked_at", MongoStore.date(revokedAt))) }
        return .object(members)
    }

    /// A key from its stored document; nil without a hash or an id.
    @Sendable static func decode(_ document: BSONReader) -> APIKey? {
        var key = APIKey(hash: "", id: "", name: "", sites: [], allSites: false, scopes: [], createdAt: 0)
        func strings(_ value: BSONValue) -> [String] {
            guard case .document(let array) = value else { return [] }
            return array.compactMap { element in if case .string(let text) = element.value { text } else { nil } }
        }
        for (field, value) in document {
            switch (field, value) {
            case ("_id", .string(let hash)): key.hash = hash
            case ("prefix", .string(let id)): key.id = id
            case ("name", .string(let name)): key.name = name
            case ("sites", _): key.sites = strings(value)
            case ("all_sites", .bool(let allSites)): key.allSites = allSites
            case ("scopes", _): key.scopes = strings(value)
            case ("created_at", .date(let millis)): key.createdAt = millis
            case ("revoked_at", .date(let millis)): key.revokedAt = millis
            default: break
            }
        }
        return key.hash.isEmpty || key.id.isEmpty ? nil : key
    }
}
