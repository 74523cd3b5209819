import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import IngestAPI
@testable import Shared
@testable import Worker

/// `Worker dead list|replay|purge` from the built binary.
struct DeadLetterToolTests {
    @Test func listReplayAndPurge() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let good = Event(eventID: "dl-good", siteID: "s1", eventType: "page_view", path: "/", timestamp: 1_763_916_271_123, receivedAt: 1_763_916_271_123)
            let badSite = Event(eventID: "dl-bad", siteID: "no spaces allowed", eventType: "page_view", path: "/", timestamp: 1, receivedAt: 1)
            var old = DeadLetter(payload: Array("{not json".utf8), reason: "undecodable", code: "UNDECODABLE", worker: "w")
            old.failedAt = "2020-01-01T00:00:00.000Z"
            let letters = [
                DeadLetter(payload: good.queuePayload, eventID: "dl-good", reason: "refused", code: "MONGO_2", worker: "w"),
                DeadLetter(payload: badSite.queuePayload, eventID: "dl-bad", reason: "refused", code: "MONGO_2", worker: "w"), old,
            ]
            _ = try await servers.redis.send(RedisCommand("LPUSH", [keys.dead], values: letters.map(\.encoded))).orThrow()

            let listed = try await WorkerProcess.run(servers, ["dead", "list"])
            #expect(listed.status == 0)
            #expect(listed.output.contains("event_id=dl-good") && listed.output.contains("3 dead letters"))

            let replayed = try await WorkerProcess.run(servers, ["dead", "replay", "--all"])
            #expect(replayed.output.contains("requeued 1, kept 2"), "\(replayed.output)")
            #expect(replayed.output.contains("fails validation, kept: event_id=dl-bad"))
            let queued = try await servers.redis.send(RedisCommand("LRANGE", keys.queue, "0", "-1")).orThrow().elements!.compactMap(\.string)
            #expect(queued.count == 1 && queued[0].contains(#""event_id":"dl-good""#))
            #expect(try await servers.length(keys.dead) == 2)
            #expect(try await WorkerProcess.run(servers, ["dead", "replay", "--id", "nobody"]).status != 0)

            let purged = try await WorkerProcess.run(servers, ["dead", "purge", "--older-than", "7d"])
            #expect(purged.output.contains("purged 1"))
            #expect(try await servers.length(keys.dead) == 1)
        }
    }

    @Test func replayingASummaryKeepsWhatItStandsFor() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let raw = #"{"event_id":"s9","site_id":"s1","event_type":"page_view","path":"/","timestamp":5,"received_at":5,"count":5,"throttled":true,"summary_id":"summary:x:1","attempts":5}"#
            let letter = DeadLetter(payload: Array(raw.utf8), eventID: "summary:x:1", reason: "unknown", code: "MONGO_9999", attempts: 5, worker: "w")
            _ = try await servers.redis.send(RedisCommand("LPUSH", [keys.dead], values: [letter.encoded])).orThrow()
            #expect(try await WorkerProcess.run(servers, ["dead", "replay", "--id", "summary:x:1"]).output.contains("requeued 1"))
            let queued = try #require(try await servers.redis.send(RedisCommand("LINDEX", keys.queue, "0")).orThrow().bytes)
            let item = try #require(PayloadDecoder.decode([queued]).events.first)
            #expect(item.stored.count == 5 && item.stored.throttled && item.stored.event.eventID == "summary:x:1")
            #expect(item.attempts == 0)
        }
    }
}
