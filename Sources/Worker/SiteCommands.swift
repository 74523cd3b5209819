import ArgumentParser
import Foundation
import Logging
import Shared

/// Where the site and key commands find MongoDB: the same environment as the worker
/// (MONGO_URI, .env).
enum AdminStore {
    /// Opens the store the worker would (one client), runs `body`, and shuts the store down
    /// whether `body` succeeded or threw. Site and key errors become usage errors that say what to do.
    static func with<T>(_ body: (MongoStore) async throws -> T) async throws -> T {
        let pipeline = try PipelineConfiguration(environment: .load())
        LoggingSetup.bootstrap(level: .error)
        let store = try MongoStore(uri: pipeline.mongoURI, maxClients: 1, appName: "Worker admin", logger: Logger(label: "Worker"))
        do {
            let result = try await body(store)
            await store.shutdown()
            return result
        } catch let error as AccessError {
            await store.shutdown()
            throw ArgumentParser.ValidationError(error.description)
        } catch {
            await store.shutdown()
            throw error
        }
    }

    /// Now, Unix milliseconds.
    static var now: Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    /// `2026-11-24T01:02:03Z` for Unix milliseconds.
    static func format(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).ISO8601Format()
    }
}

/// `Worker sites …`: the sites whose stats are read, each with its time zone and whether it is public.
struct SitesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sites", abstract: "Add, list and delete the sites whose stats are read (kept in MongoDB).",
        discussion: """
            Events are stored for any site_id whether its site was added or not; adding a site sets the time zone \
            its periods are counted in and, with --public, lets anyone read its stats without an API key.
            """,
        subcommands: [Add.self, List.self, Delete.self])

    /// `sites add`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a site.")
        @Argument(help: "The domain: the site_id its events carry (1-64 characters of A-Z a-z 0-9 . _ -).") var domain: String
        @Option(name: .customLong("timezone"), help: "IANA time zone for periods and buckets, e.g. Europe/Paris.") var timeZone = Site.defaultTimeZone
        @Flag(name: .customLong("public"), help: "Anyone may read its stats without an API key.") var isPublic = false

        func run() async throws {
            let site: Site
            do {
                site = try Site.make(domain: domain, timeZone: timeZone, isPublic: isPublic, createdAt: AdminStore.now)
            } catch {
                throw ArgumentParser.ValidationError(error.description)
            }
            _ = try await AdminStore.with { store in try await SiteStore(store: store).add(site) }
            print("added \(SitesCommand.describe(site))")
        }
    }

    /// `sites list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the added sites.")

        func run() async throws {
            let sites = try await AdminStore.with { store in try await SiteStore(store: store).list() }
            for site in sites { print(SitesCommand.describe(site)) }
            if sites.isEmpty { print("no sites added; every site's stats are read in UTC and need an API key") }
        }
    }

    /// `sites delete`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a site (its events are kept).")
        @Argument(help: "The domain.") var domain: String

        func run() async throws {
            let existed = try await AdminStore.with { store in try await SiteStore(store: store).delete(domain) }
            guard existed else { throw ArgumentParser.ValidationError("no site \(EventValidator.printable(domain)) is added") }
            print("deleted \(domain); its events are kept and read in UTC with a key")
        }
    }

    /// One line: domain, time zone, public or not, when it was added.
    static func describe(_ site: Site) -> String {
        "\(site.domain) time_zone=\(site.timeZone) \(site.isPublic ? "public" : "private") added=\(AdminStore.format(site.createdAt))"
    }
}
