/// Redis's documented reliable-queue pattern: ingest LPUSHes to `queue`; a worker moves items
/// atomically into its own processing list, stores them, and only then deletes the list. A
/// processing list whose owner's heartbeat has expired is moved back to the queue.
public struct ReliableQueue: Sendable {
    /// The Redis client commands go through.
    public let redis: RedisClient
    /// Key names.
    public let keys: QueueKeys

    /// A queue on `redis` under `keys`.
    public init(redis: RedisClient, keys: QueueKeys) {
        self.redis = redis
        self.keys = keys
    }

    /// Pushes payloads in one variadic LPUSH; returns the queue's length afterwards.
    @discardableResult
    public func enqueue(_ payloads: [[UInt8]]) async throws(RedisError) -> Int {
        let reply = try await redis.send(RedisCommand("LPUSH", [keys.queue], values: payloads)).orThrow()
        guard let length = reply.int else { throw .unexpectedReply("LPUSH answered \(reply)") }
        return Int(length)
    }

    /// The number of events waiting in the queue.
    public func depth() async throws(RedisError) -> Int {
        let reply = try await redis.send(RedisCommand("LLEN", keys.queue)).orThrow()
        return Int(reply.int ?? 0)
    }

    /// Moves up to `max` events into `worker`'s processing list, oldest first, and returns
    /// them; waits up to `wait` for the first when the queue is empty (an empty result then).
    public func claim(worker: String, max: Int, wait: Duration) async throws(RedisError) -> [[UInt8]] {
        let processing = keys.processing(worker)
        var claimed = try await take(into: processing, max: max)
        if !claimed.isEmpty { return claimed }
        let first = try await redis.send(
            RedisCommand("BLMOVE", keys.queue, processing, "RIGHT", "LEFT", String(wait.totalSeconds)),
            extraTimeout: wait
        ).orThrow()
        guard let item = first.bytes else { return [] }
        claimed = [item]
        if max > 1 { claimed += try await take(into: processing, max: max - 1) }
        return claimed
    }

    private func take(into processing: String, max: Int) async throws(RedisError) -> [[UInt8]] {
        let reply = try await redis.run(QueueScripts.claim, keys: [keys.queue, processing], arguments: [Array(String(max).utf8)])
        return (reply.elements ?? []).compactMap(\.bytes)
    }

    /// Deletes `worker`'s processing list (its batch is stored) and, in the same atomic step,
    /// files the given dead letters.
    public func acknowledge(worker: String, deadLetters: [[UInt8]] = []) async throws(RedisError) {
        _ = try await redis.run(QueueScripts.acknowledge, keys: [keys.processing(worker), keys.dead], arguments: deadLetters)
    }

    /// Hands `worker`'s unstored batch back to the queue, to be claimed next.
    public func release(worker: String) async throws(RedisError) {
        _ = try await redis.run(QueueScripts.recover, keys: [keys.processing(worker), keys.heartbeat(worker), keys.queue], arguments: [Array("force".utf8)])
    }

    /// Marks each of `workers` alive for `ttl`, in one round trip.
    public func heartbeat(workers: [String], ttl: Duration) async throws(RedisError) {
        let millis = String(ttl.totalMilliseconds)
        for reply in try await redis.pipeline(workers.map { RedisCommand("SET", keys.heartbeat($0), "1", "PX", millis) }) {
            _ = try reply.orThrow()
        }
    }

    /// Removes `worker`'s heartbeat at a clean exit, so nobody waits for it to expire.
    public func retire(worker: String) async throws(RedisError) {
        _ = try await redis.send(RedisCommand("DEL", keys.heartbeat(worker))).orThrow()
    }

    /// Moves every processing list whose worker's heartbeat is gone back to the queue, so
    /// those events are claimed next; returns (lists recovered, events moved). Each list is
    /// checked and moved in one Lua call, so two workers never both move the same list.
    public func recoverAbandoned() async throws(RedisError) -> (lists: Int, events: Int) {
        var cursor = "0"
        var lists = 0
        var events = 0
        repeat {
            let reply = try await redis.send(RedisCommand("SCAN", cursor, "MATCH", keys.processingPattern, "COUNT", "200")).orThrow()
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let found = parts[1].elements else {
                throw .unexpectedReply("SCAN answered \(reply)")
            }
            cursor = next
            for key in found.compactMap(\.string) {
                guard let worker = keys.workerID(fromProcessingKey: key) else { continue }
                let moved = try await redis.run(QueueScripts.recover, keys: [key, keys.heartbeat(worker), keys.queue])
                if let count = moved.int, count > 0 {
                    lists += 1
                    events += Int(count)
                }
            }
        } while cursor != "0"
        return (lists, events)
    }

    /// Number of dead letters.
    public func deadLetterCount() async throws(RedisError) -> Int {
        Int(try await redis.send(RedisCommand("LLEN", keys.dead)).orThrow().int ?? 0)
    }
}
