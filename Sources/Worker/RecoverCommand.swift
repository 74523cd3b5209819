import ArgumentParser
import Shared

/// `Worker recover --legacy`: the upgrade step for processing lists left by killed workers of a
/// version without the worker registry (running workers recover everything else by themselves).
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Move processing lists of dead workers from before the worker registry back to the queue.",
        discussion: "Scans the keyspace once; run it after upgrading, with the old workers stopped.")

    @Flag(help: "Look for processing lists without a registry entry (left by an older version).")
    var legacy = false

    func run() async throws {
        guard legacy else { throw ArgumentParser.ValidationError("nothing to do: running workers recover registered workers' batches; pass --legacy") }
        let result = try await AdminConnection.with { try await $0.queue.recoverLegacyLists() }
        print("moved \(result.events) events from \(result.lists) lists back to the queue; left \(result.alive) lists of live workers")
    }
}
