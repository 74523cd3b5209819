import ArgumentParser
import Shared

/// `Worker keys …`: API keys for reading stats. Only a key's SHA-256 is stored; the key is shown once.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list and revoke API keys for reading stats (kept in MongoDB, hashed).",
        discussion: """
            A key is pk_ followed by 64 hex digits (32 random bytes); its id is the first 8 hex digits after pk_. \
            Clients send it as Authorization: Bearer KEY. Each key is rate-limited (STATS_KEY_RATE_LIMIT per \
            STATS_KEY_RATE_WINDOW, 600 an hour by default).
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    /// `keys create`.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key; it is printed alone on the last line, once, and cannot be shown again.")
        @Option(help: "Who or what uses the key (1-100 characters).") var name: String
        @Option(name: .customLong("site"), help: "A site the key may read (repeat for several).") var sites: [String] = []
        @Flag(name: .customLong("all-sites"), help: "The key may read every site, added or not.") var allSites = false
        @Option(name: .customLong("scope"), help: "What the key may do: \(APIScope.all.joined(separator: " or ")) (repeat; default \(APIScope.statsRead)).")
        var scopes: [String] = []

        func run() async throws {
            let (key, record, unlisted) = try await AdminStore.with { store in
                let created = try await APIKeyStore(store: store).create(
                    name: name, sites: sites, allSites: allSites, scopes: scopes, now: AdminStore.now)
                var unlisted: [String] = []
                for domain in created.record.sites where try await SiteStore(store: store).get(domain) == nil { unlisted.append(domain) }
                return (created.key, created.record, unlisted)
            }
            print("created key \(KeysCommand.describe(record))")
            for domain in unlisted { print("note: site \(domain) is not added (Worker sites add); its stats are read in UTC") }
            print("store the key now; it is not stored and will not be shown again:")
            print(key)
        }
    }

    /// `keys list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys by id (never the keys themselves).")

        func run() async throws {
            let keys = try await AdminStore.with { store in try await APIKeyStore(store: store).list() }
            for key in keys { print(KeysCommand.describe(key)) }
            if keys.isEmpty { print("no keys; create one with: Worker keys create --name NAME --site DOMAIN") }
        }
    }

    /// `keys revoke`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a key; API instances stop accepting it within STATS_ACCESS_CACHE_MS (5 s by default).")
        @Argument(help: "The key's id: the 8 hex digits keys list shows.") var id: String

        func run() async throws {
            let key = try await AdminStore.with { store in try await APIKeyStore(store: store).revoke(id: id, now: AdminStore.now) }
            print("revoked \(KeysCommand.describe(key))")
        }
    }

    /// One line: id, name, sites, scopes, when made and revoked.
    static func describe(_ key: APIKey) -> String {
        let sites = key.allSites ? "all" : key.sites.joined(separator: ",")
        var line = "\(key.id) name=\(key.name.debugDescription) sites=\(sites) scopes=\(key.scopes.joined(separator: ",")) created=\(AdminStore.format(key.createdAt))"
        if let revokedAt = key.revokedAt { line += " revoked=\(AdminStore.format(revokedAt))" }
        return line
    }
}
