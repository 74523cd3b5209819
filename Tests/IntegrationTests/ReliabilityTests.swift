import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import Testing

@testable import IngestAPI
@testable import Shared
@testable import Worker

/// Nothing acknowledged is lost: dead workers, poison payloads, shutdown, Redis going away.
@Suite(.serialized) struct ReliabilityTests {
    @Test func batchAbandonedByADeadWorkerIsRecoveredButALiveOneIsLeftAlone() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let abandoned = (0..<3).map { payload(site: "rec", path: "/p\($0)") }
            // "ghost" is registered with a deadline long past; "busy" with one an hour ahead (Redis's clock).
            _ = try await servers.redis.send(RedisCommand("LPUSH", [keys.processing("ghost")], values: abandoned)).orThrow()
            let alive = [payload(site: "alive")]
            _ = try await servers.redis.pipeline([
                RedisCommand("LPUSH", [keys.processing("busy")], values: alive),
                RedisCommand("ZADD", keys.workers, "1", "ghost"),
            ])
            try await servers.queue.heartbeat(workers: ["busy"], ttl: .seconds(3600))
            try await servers.withWorker {
                try await eventually("the abandoned batch is stored") { try await servers.count(#"{"site_id": "rec"}"#) == 3 }
            }
            #expect(try await servers.length(keys.processing("ghost")) == 0)
            #expect(try await servers.length(keys.processing("busy")) == 1)
            #expect(try await servers.count(#"{"site_id": "alive"}"#) == 0)
            // The dead worker left the registry; the live one and the fence of the dead one stay.
            #expect(try await servers.redis.send(RedisCommand("ZSCORE", keys.workers, "ghost")).orThrow() == .null)
            #expect(try await servers.redis.send(RedisCommand("ZSCORE", keys.workers, "busy")).orThrow().string != nil)
            #expect(try await servers.redis.send(RedisCommand("EXISTS", keys.fence("ghost"))).orThrow().int == 1)
        }
    }

    @Test func undecodablePayloadIsDeadLetteredAndDoesNotBlockTheQueue() async throws {
        try await TestServers.with { servers in
            try await servers.queue.enqueue([payload(site: "poison"), Array("not json".utf8), Array(#"{"event_id":"x"}"#.utf8), payload(site: "poison")])
            try await servers.withWorker {
                try await eventually("good events stored, bad ones dead-lettered") {
                    let stored = try await servers.count(#"{"site_id": "poison"}"#)
                    let dead = try await servers.queue.deadLetterCount()
                    return stored == 2 && dead == 2
                }
            }
            let letters = try await servers.queue.deadLetters()
            let decoded = try letters.map { try JSONSerialization.jsonObject(with: Data($0)) as! [String: Any] }
            #expect(Set(decoded.compactMap { $0["raw"] as? String }) == ["not json", #"{"event_id":"x"}"#])
            #expect(decoded.allSatisfy { $0["code"] as? String == "UNDECODABLE" && ($0["reason"] as? String)?.isEmpty == false })
            #expect(decoded.allSatisfy { ($0["worker"] as? String)?.isEmpty == false && $0["failed_at"] != nil })
            #expect(try await servers.queued() == 0)
        }
    }

    @Test func killedWorkerLosesNothingAndStoresNothingTwice() async throws {
        try await TestServers.with { servers in
            let total = 10_000
            for chunk in stride(from: 0, to: total, by: 1000) {
                try await servers.queue.enqueue((chunk..<chunk + 1000).map { payload(site: "kill", id: "kill-\($0)") })
            }
            let orphaned = try await servers.killWorkersUntilOneDiesHoldingABatch(batchSize: 500)
            try #require(!orphaned.isEmpty, "no worker died holding a batch; recovery went untested")
            #expect(try await servers.count() < total, "the workers finished before the kill; the test proved nothing")

            let survivor = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "200", "HEARTBEAT_TTL_MS": "1000"])
            try await eventually("every event is stored", timeout: .seconds(60)) {
                let stored = try await servers.count()
                let queued = try await servers.queued()
                let processing = try await servers.processingLists()
                return stored == total && queued == 0 && processing.isEmpty
            }
            // `_id` is unique per (site, event id), so equal counts mean each event is stored exactly once.
            #expect(try await servers.count(#"{"site_id": "kill"}"#) == total)
            await survivor.stop()
        }
    }

    @Test func aPausedWorkerWhoseBatchWasRecoveredAcknowledgesNothingWhenItResumes() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let total = 5_000
            for chunk in stride(from: 0, to: total, by: 1000) {
                try await servers.queue.enqueue((chunk..<chunk + 1000).map { payload(site: "zombie", id: "zombie-\($0)") })
            }
            let zombie = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "250", "HEARTBEAT_TTL_MS": "1000", "LOG_LEVEL": "error"])
            // SIGSTOP it while it holds a batch (between two batches it holds nothing: try again).
            var held = 0
            for _ in 1...50 where held == 0 {
                try await eventually("the worker is storing") { try await servers.count() > 0 }
                zombie.kill(signal: SIGSTOP)
                let lists = try await servers.processingLists()
                if let list = lists.first { held = try await servers.length(list) }
                if held == 0 { zombie.kill(signal: SIGCONT) }
            }
            try #require(held > 0, "never caught the worker holding a batch")
            #expect(try await servers.count() < total, "the worker finished before the pause; the test proved nothing")
            // Its heartbeat expires; another worker recovers the batch and stores everything.
            try await servers.withWorkers(batchSize: 500, configure: { $0.recoveryInterval = .milliseconds(300) }) { _ in
                try await eventually("the other worker recovers the batch and stores every event", timeout: .seconds(60)) {
                    let lists = try await servers.processingLists()
                    guard lists.isEmpty else { return false }
                    return try await servers.count() == total
                }
            }
            let fences = try await servers.fences()
            #expect(fences.count == 1)
            // The zombie resumes with the batch in memory: it stores duplicates (no-ops) and its
            // acknowledgement is refused; it deletes nothing and files nothing.
            zombie.kill(signal: SIGCONT)
            try await eventually("the zombie learns it was fenced") {
                (try await servers.fences()).isEmpty
            }
            #expect(try await servers.count(#"{"site_id": "zombie"}"#) == total)
            #expect(try await servers.length(keys.dead) == 0)
            // And then it works as before.
            try await servers.queue.enqueue((0..<10).map { payload(site: "zombie", id: "after-\($0)") })
            try await eventually("the resumed worker stores new events") { try await servers.count() == total + 10 }
            await zombie.stop()
        }
    }

    /// A worker whose acknowledgement's answer was lost sends it again: its dead letters and
    /// retries must be filed once.
    @Test func anAcknowledgementSentTwiceFilesItsDeadLettersOnce() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            _ = try await servers.redis.send(RedisCommand("RPUSH", keys.processing("w1"), "poison")).orThrow()
            try await servers.queue.heartbeat(workers: ["w1"], ttl: .seconds(60))
            let dead = [Array(#"{"raw":"poison"}"#.utf8)]
            #expect(try await servers.queue.acknowledge(worker: "w1", deadLetters: dead, retries: [(Array("r".utf8), 5)]))
            #expect(try await servers.queue.acknowledge(worker: "w1", deadLetters: dead, retries: [(Array("r".utf8), 5)]))
            #expect(try await servers.length(keys.dead) == 1)
            #expect(try await servers.queue.retryCount() == 1)
        }
    }

    @Test func eventsLeftInAProcessingListByALostClaimAreClaimedAgain() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            // A claim moved "left" but its answer never arrived (a dropped connection).
            _ = try await servers.redis.send(RedisCommand("RPUSH", [keys.processing("w1")], values: [Array("left".utf8)])).orThrow()
            try await servers.queue.enqueue([Array("new".utf8)], to: keys.home)
            let claimed = try await servers.queue.claim(worker: "w1", max: 10, wait: .milliseconds(100))
            #expect(claimed.map { String(decoding: $0, as: UTF8.self) } == ["left", "new"])
        }
    }

    @Test func sigtermFinishesTheBatchInHandAndExitsZero() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let total = 20_000
            for chunk in stride(from: 0, to: total, by: 1000) {
                try await servers.queue.enqueue((chunk..<chunk + 1000).map { payload(site: "term", id: "term-\($0)") })
            }
            let worker = try WorkerProcess(servers, extra: ["WORKER_BATCH_SIZE": "500"])
            // Catch it holding a batch: SIGSTOP, look, SIGCONT if its processing list is empty.
            var held: Set<String> = []
            let deadline = ContinuousClock.now + .seconds(30)
            while held.isEmpty && ContinuousClock.now < deadline {
                try await eventually("the worker is storing") { try await servers.count() > 0 }
                worker.kill(signal: SIGSTOP)
                let lists = try await servers.processingLists()
                if let list = lists.first {
                    held = Set(try await Self.eventIDs(in: list, servers))
                }
                if held.isEmpty { worker.kill(signal: SIGCONT) }
            }
            try #require(!held.isEmpty, "never caught the worker holding a batch: the test would prove nothing")
            worker.kill(signal: SIGTERM)
            worker.kill(signal: SIGCONT)
            let status = try await worker.waitForExit(timeout: .seconds(15))
            #expect(status == 0)
            #expect(try await servers.redis.send(RedisCommand("ZCARD", keys.workers)).orThrow().int == 0, "it left the registry")
            #expect(try await servers.processingLists().isEmpty)
            // The batch in hand was stored, not handed back; whatever it did not claim is still queued.
            #expect(held.isDisjoint(with: try await Self.eventIDs(in: keys.queue, servers)), "the batch in hand at SIGTERM was stored")
            #expect(try await servers.queued() + servers.count() == total)
        }
    }

    /// The event ids of the payloads in a Redis list.
    static func eventIDs(in list: String, _ servers: TestServers) async throws -> [String] {
        let items = try await servers.redis.send(RedisCommand("LRANGE", list, "0", "-1")).orThrow().elements ?? []
        return PayloadDecoder.decode(items.compactMap(\.bytes)).events.map(\.stored.event.eventID)
    }

    @Test func sigtermDuringAMongoOutageHandsTheBatchBackAndExitsWithinFiveSeconds() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let mongo = try ServerProcess.nx()
            try mongo.start()
            defer { mongo.stop() }
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: log) }
            let output = try FileHandle(forWritingTo: log)
            defer { try? output.close() }
            // Backoff sleeps of 20 s to a minute (decorrelated jitter never sleeps less than its base) and
            // no circuit breaker: only shutdown can end the wait.
            let worker = try WorkerProcess(servers, extra: [
                "MONGO_URI": "mongodb://127.0.0.1:\(mongo.port)/outage?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
                "RETRY_STRATEGY": "decorrelated-jitter", "RETRY_BASE_MS": "20000", "RETRY_CAP_MS": "60000", "BREAKER_THRESHOLD": "1000",
                "WORKER_BATCH_SIZE": "50",
            ], output: output)
            try await eventually("the worker registers") { try await servers.redis.send(RedisCommand("ZCARD", keys.workers)).orThrow().int == 1 }
            mongo.stop()
            try await servers.queue.enqueue((0..<20).map { payload(site: "outage", id: "outage-\($0)") })
            try await eventually("the worker holds the batch and backs off after a failed store") {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                let lists = try await servers.processingLists()
                guard let list = lists.first, try await servers.length(list) == 20 else { return false }
                return text.contains("store failed; retrying the batch")
            }
            let signalled = ContinuousClock.now
            worker.kill(signal: SIGTERM)
            let status = try await worker.waitForExit(timeout: .seconds(10))
            let took = ContinuousClock.now - signalled
            #expect(status == 0)
            #expect(took < .seconds(5), "exited \(took) after SIGTERM")
            #expect(try await servers.queued() == 20, "the unstored batch is back in the queue")
            #expect(try await servers.processingLists().isEmpty)
            #expect(try await servers.redis.send(RedisCommand("ZCARD", keys.workers)).orThrow().int == 0)
        }
    }

    /// A hung MongoDB (it accepts and never answers) holds an insert for libmongoc's socket
    /// timeout (30 s by default): SIGTERM must not wait for it.
    @Test func sigtermWhileMongoHangsMidInsertHandsTheBatchBackAndExitsWithinFiveSeconds() async throws {
        try await TestServers.with { servers in
            let keys = servers.configuration.keys
            let mongo = try ServerProcess.nx()
            try mongo.start()
            defer { mongo.stop() }
            let worker = try WorkerProcess(servers, extra: [
                "MONGO_URI": "mongodb://127.0.0.1:\(mongo.port)/hung", "WORKER_BATCH_SIZE": "50",
            ])
            try await eventually("the worker registers") { try await servers.redis.send(RedisCommand("ZCARD", keys.workers)).orThrow().int == 1 }
            mongo.send(SIGSTOP)
            try await servers.queue.enqueue((0..<20).map { payload(site: "hung", id: "hung-\($0)") })
            // Claimed means the insert follows at once (no throttle): it is then waiting on the hung server.
            try await eventually("the worker holds the batch") {
                let lists = try await servers.processingLists()
                guard let list = lists.first else { return false }
                return try await servers.length(list) == 20
            }
            let signalled = ContinuousClock.now
            worker.kill(signal: SIGTERM)
            let status = try await worker.waitForExit(timeout: .seconds(40))
            let took = ContinuousClock.now - signalled
            mongo.send(SIGCONT)
            #expect(status == 0)
            #expect(took < .seconds(5), "exited \(took) after SIGTERM")
            #expect(try await servers.queued() == 20, "the unstored batch is back in the queue")
        }
    }

    @Test func redisDownMeansServiceUnavailableNeverAccepted() async throws {
        try await TestServers.with { servers in
            let redisServer = try ServerProcess.redis()
            let redis = RedisClient(configuration: RedisConfiguration(port: redisServer.port), maxConnections: 2, logger: servers.logger)
            let queue = ReliableQueue(redis: redis, keys: servers.configuration.keys)
            let dependencies = IngestDependencies(queue: queue, store: servers.store, registry: IngestMetrics.registry, maxPushesInFlight: 2)
            let body = ByteBuffer(string: #"{"site_id":"s","event_type":"click"}"#)
            try await Application(router: buildRouter(dependencies)).test(.router) { client in
                try await client.execute(uri: "/event", method: .post, body: body) { #expect($0.status == .accepted) }
                redisServer.stop()
                try await client.execute(uri: "/event", method: .post, body: body) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(String(buffer: response.body).contains(#""code":"SERVICE_UNAVAILABLE""#))
                }
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(String(buffer: response.body).contains(#""redis":"unreachable""#))
                }
                try redisServer.start()
                try await eventually("ingest accepts again once Redis is back") {
                    try await client.execute(uri: "/event", method: .post, body: body) { $0.status == .accepted }
                }
            }
            redisServer.stop()
            await redis.shutdown()
        }
    }

    @Test func batchWaitsOutAMongoOutageAndIsStoredWhenItReturns() async throws {
        try await TestServers.with { servers in
            let mongo = try ServerProcess.nx()
            defer { mongo.stop() }
            let store = try MongoStore(
                uri: "mongodb://127.0.0.1:\(mongo.port)/outage?serverSelectionTimeoutMS=300", maxClients: 1, appName: "tests", logger: servers.logger)
            var configuration = servers.workerConfiguration()
            configuration.breakerThreshold = 3
            let worker = EventWorker(configuration: configuration, queue: servers.queue, store: store, logger: servers.logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: servers.logger))
            let running = Task { try await group.run() }
            do {
                try await servers.queue.enqueue((0..<10).map { payload(site: "outage", id: "outage-\($0)") }, to: servers.configuration.keys.home)
                let processing = servers.configuration.keys.processing(worker.workerIDs[0])
                try await eventually("the worker holds the batch while MongoDB is away") { try await servers.length(processing) == 10 }
                // Three failures in a row (this worker's own breaker counts them) open the breaker; the
                // batch is still claimed, not dropped, and new events wait in the queue, unclaimed.
                try await eventually("the circuit breaker opens") { worker.breaker.isOpen }
                #expect(try await servers.length(processing) == 10)
                try await servers.queue.enqueue((10..<20).map { payload(site: "outage", id: "outage-\($0)") })
                let deadline = ContinuousClock.now + .milliseconds(500)
                while ContinuousClock.now < deadline {
                    #expect(try await servers.queued() == 10, "claimed while the breaker was open")
                    try await Task.sleep(for: .milliseconds(50))
                }
                try mongo.start()
                // Stored first, then nothing left: two lengths read one after the other can both be
                // 0 while the second batch moves from the queue to the processing list between them.
                try await eventually("everything is stored once MongoDB is back") {
                    // Until the client reconnects, reads fail as transient: not yet.
                    (try? await store.aggregate(pipelineJSON: #"[{"$match": {"site_id": "outage"}}]"#).count) == 20
                }
                try await eventually("nothing is left claimed or queued") {
                    guard try await servers.length(processing) == 0 else { return false }
                    return try await servers.queued() == 0
                }
                #expect(!worker.breaker.isOpen)
            } catch {
                await group.triggerGracefulShutdown()
                _ = try? await running.value
                await store.shutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await running.value
            await store.shutdown()
        }
    }
}
