import ArgumentParser
import Foundation
import Shared

/// `Worker dead …`: look at, replay and purge the events that could not be stored.
struct DeadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead", abstract: "List, replay and purge dead letters (events that could not be stored).",
        subcommands: [List.self, Replay.self, Purge.self])

    /// Reads every dead letter with its stored bytes.
    static func load(_ queue: ReliableQueue, limit: Int = 0) async throws -> [(bytes: [UInt8], letter: DeadLetter?)] {
        try await queue.deadLetters(limit: limit).map { bytes in (bytes, try? JSONDecoder().decode(DeadLetter.self, from: Data(bytes))) }
    }

    /// `dead list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dead letters, newest first.")
        @Option(help: "Show at most this many (0: all).") var limit = 20

        func run() async throws {
            let (total, items) = try await AdminConnection.with { connection in
                (try await connection.queue.deadLetterCount(), try await DeadCommand.load(connection.queue, limit: limit))
            }
            for item in items {
                guard let letter = item.letter else {
                    print("(unreadable) \(String(decoding: item.bytes, as: UTF8.self))")
                    continue
                }
                print("\(letter.failedAt)  \(letter.code)  attempts=\(letter.attempts)  event_id=\(letter.eventID ?? "-")  \(letter.reason)")
                print("    \(letter.raw)")
            }
            print("\(total) dead letter\(total == 1 ? "" : "s")")
        }
    }

    /// `dead replay`.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate dead letters again and requeue those that pass; each is removed once requeued.")
        @Flag(help: "Replay every dead letter.") var all = false
        @Option(help: "Replay the dead letters of this event id.") var id: String?

        func validate() throws {
            guard all != (id != nil) else { throw ValidationError("give either --all or --id ID") }
        }

        func run() async throws {
            let (requeued, refused) = try await AdminConnection.with { connection in
                try await replay(connection.queue)
            }
            print("requeued \(requeued), kept \(refused)")
            if requeued == 0 && refused == 0, let id { throw ValidationError("no dead letter for event id \(id)") }
        }

        /// Replays the selected dead letters; returns (requeued, kept).
        private func replay(_ queue: ReliableQueue) async throws -> (Int, Int) {
            var requeued = 0, refused = 0
            for stored in try await DeadCommand.load(queue) {
                guard let letter = stored.letter, all || letter.eventID == id else { continue }
                let decoded = PayloadDecoder.decode([Array(letter.raw.utf8)])
                guard let item = decoded.events.first else {
                    print("still undecodable, kept: \(letter.raw)")
                    refused += 1
                    continue
                }
                do {
                    // A summary keeps its count and id, a decided event its mark: replaying
                    // neither loses nor re-counts what they stand for. Attempts start over.
                    var replayed = item
                    if !item.stored.throttled { replayed.stored.event = try EventValidator().revalidate(item.stored.event) }
                    if try await queue.replay(deadLetter: stored.bytes, payload: replayed.payload(withAttempts: false)) { requeued += 1 }
                } catch let error as Shared.ValidationError {
                    print("fails validation, kept: event_id=\(item.stored.event.eventID): \(error.message)")
                    refused += 1
                }
            }
            return (requeued, refused)
        }
    }

    /// `dead purge`.
    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete dead letters filed longer ago than a duration.")
        @Option(name: .customLong("older-than"), help: "e.g. 7d, 12h.") var olderThan: String

        func run() async throws {
            guard let age = DurationText.parse(olderThan) else { throw ValidationError("--older-than must look like 7d, 12h or 30m") }
            let cutoff = Timestamp.nowMillis() - age.totalMilliseconds
            let purged = try await AdminConnection.with { connection in
                let queue = connection.queue
                var purged = 0
                for item in try await DeadCommand.load(queue) {
                    guard let letter = item.letter, let failed = Timestamp.parseISO8601(letter.failedAt), failed < cutoff else { continue }
                    if try await queue.removeDeadLetter(item.bytes) { purged += 1 }
                }
                return purged
            }
            print("purged \(purged)")
        }
    }
}
