import ArgumentParser
import Logging
import Shared

/// `Worker rollups …`: the hourly aggregates that make reads fast, derived from raw events.
struct RollupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollups", abstract: "Rebuild the hourly rollups of a site from its raw events.",
        discussion: """
            Rollups are derived from raw events and checked against a generation on every read, so a stale one is \
            never used; reads build stale ones as they go. A Worker creates an hour's document before acknowledging \
            its events, so an hour without one reads as empty: rebuild after restoring events from a backup, after \
            importing events, after upgrading from a version without rollups, or to pay the building cost ahead of \
            the first dashboard.
            """,
        subcommands: [Rebuild.self])

    /// `rollups rebuild`.
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mark stale and build again the rollups of a site over a period (after an upgrade or a restore: hours without rollups read as empty).")
        @Option(help: "The site.") var site: String
        @Option(help: "First UTC day, YYYY-MM-DD (default: the site's first event).") var from: String?
        @Option(help: "Last UTC day, YYYY-MM-DD, included (default: today).") var to: String?

        func run() async throws {
            guard let range = try await rebuildRange() else {
                print("no events for \(site): nothing to build")
                return
            }
            let hours = try await AdminStore.with { store in
                try await QueryEngine(store: store, maxTime: .seconds(300), logger: Logger(label: "Worker")).rebuild(siteID: site, range: range)
            }
            print("rebuilt \(hours) hours of \(site)")
        }

        /// The period asked for, defaulting to the site's first event up to now.
        private func rebuildRange() async throws -> TimeRange? {
            func day(_ text: String, _ name: String) throws -> Int64 {
                guard let start = Timestamp.parseDay(text) else { throw ArgumentParser.ValidationError("--\(name) must be a date as YYYY-MM-DD") }
                return start
            }
            let end = try to.map { try day($0, "to") + 86_400_000 } ?? AdminStore.now
            if let from { return TimeRange(start: try day(from, "from"), end: end) }
            let first = try await AdminStore.with { store in
                try await QueryEngine(store: store, logger: Logger(label: "Worker")).firstEventTime(siteID: site)
            }
            return first.map { TimeRange(start: $0, end: end) }
        }
    }
}
