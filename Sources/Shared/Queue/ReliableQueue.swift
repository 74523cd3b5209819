/// Redis's documented reliable-queue pattern: ingest LPUSHes to `queue`; a worker moves items
/// atomically into its own processing list, stores them, and only then deletes the list. A
/// processing list whose owner's deadline in the worker registry has passed is moved back to the queue.
public struct ReliableQueue: Sendable {
    /// The Redis client commands go through.
    public let redis: RedisClient
    /// Key names.
    public let keys: QueueKeys
    /// Replicas that must confirm every push before it is acknowledged (nil: the master's word is enough).
    public var pushAcks: ReplicaAcks?

    /// A queue on `redis` under `keys`; pushes wait for `pushAcks` when given.
    public init(redis: RedisClient, keys: QueueKeys, pushAcks: ReplicaAcks? = nil) {
        self.redis = redis
        self.keys = keys
        self.pushAcks = pushAcks
    }

    /// Pushes payloads in one variadic LPUSH; returns the queue's length afterwards.
    @discardableResult
    public func enqueue(_ payloads: [[UInt8]]) async throws(RedisError) -> Int {
        let reply = try await redis.send(RedisCommand("LPUSH", [keys.queue], values: payloads), acks: pushAcks).orThrow()
        guard let length = reply.int else { throw .unexpectedReply("LPUSH answered \(reply)") }
        return Int(length)
    }

    /// Pushes payloads unless the queue already holds `highWater` or more (0: no mark); returns
    /// the length after the push, or nil when refused for being full.
    public func enqueue(_ payloads: [[UInt8]], highWater: Int) async throws(RedisError) -> Int? {
        guard highWater > 0 else { return try await enqueue(payloads) }
        let reply = try await redis.run(QueueScripts.boundedPush, keys: [keys.queue], arguments: [Array(String(highWater).utf8)] + payloads, acks: pushAcks)
        guard let parts = reply.elements, parts.count == 2, let pushed = parts[0].int, let length = parts[1].int else {
            throw .unexpectedReply("bounded push answered \(reply)")
        }
        return pushed == 1 ? Int(length) : nil
    }

    /// The queue's depth and the number of dead letters, in one round trip (health checks).
    public func depthAndDeadLetters() async throws(RedisError) -> (depth: Int, deadLetters: Int) {
        let replies = try await redis.pipeline([RedisCommand("LLEN", keys.queue), RedisCommand("LLEN", keys.dead)])
        guard replies.count == 2, let depth = try replies[0].orThrow().int, let dead = try replies[1].orThrow().int else {
            throw .unexpectedReply("LLEN answered \(replies)")
        }
        return (Int(depth), Int(dead))
    }

    /// The number of events waiting in the queue.
    public func depth() async throws(RedisError) -> Int {
        let reply = try await redis.send(RedisCommand("LLEN", keys.queue)).orThrow()
        return Int(reply.int ?? 0)
    }

    /// Registers `worker` (deadline now + `ttl`) unless it is, tops its processing list up to
    /// `max` events and returns everything in it, oldest first (leftovers of an earlier claim
    /// whose answer was lost included); waits up to `wait` for the first when the queue is
    /// empty (an empty result then).
    public func claim(worker: String, max: Int, wait: Duration, ttl: Duration = .seconds(10)) async throws(RedisError) -> [[UInt8]] {
        let processing = keys.processing(worker)
        let claimed = try await take(worker: worker, max: max, ttl: ttl)
        if !claimed.isEmpty { return claimed }
        // BLMOVE runs right after the claim script registered the worker (or found it registered).
        let first = try await redis.send(
            RedisCommand("BLMOVE", keys.queue, processing, "RIGHT", "LEFT", String(wait.totalSeconds)),
            extraTimeout: wait
        ).orThrow()
        guard first.bytes != nil else { return [] }
        return try await take(worker: worker, max: max, ttl: ttl)
    }

    private func take(worker: String, max: Int, ttl: Duration) async throws(RedisError) -> [[UInt8]] {
        let reply = try await redis.run(
            QueueScripts.claim, keys: [keys.queue, keys.processing(worker), keys.workers],
            arguments: [Array(String(max).utf8), Array(worker.utf8), Array(String(ttl.totalMilliseconds).utf8)])
        return (reply.elements ?? []).compactMap(\.bytes)
    }

    /// Deletes `worker`'s processing list (its batch is stored) and, in the same atomic step,
    /// files the given dead letters and schedules the given retries (payload, due in Unix ms).
    /// Returns false, and does none of it, if the batch was recovered by another worker
    /// meanwhile (this worker was paused past its heartbeat: a zombie).
    @discardableResult
    public func acknowledge(worker: String, deadLetters: [[UInt8]] = [], retries: [(payload: [UInt8], due: Int64)] = [])
        async throws(RedisError) -> Bool
    {
        var arguments = [Array(String(deadLetters.count).utf8)] + deadLetters
        for retry in retries { arguments += [Array(String(retry.due).utf8), retry.payload] }
        let reply = try await redis.run(
            QueueScripts.acknowledge, keys: [keys.processing(worker), keys.dead, keys.fence(worker), keys.retry], arguments: arguments)
        return reply.int != -1
    }

    /// Moves up to `max` retries due at `now` back to the queue; returns how many.
    public func promoteDueRetries(now: Int64, max: Int = 500) async throws(RedisError) -> Int {
        let reply = try await redis.run(
            QueueScripts.promoteRetries, keys: [keys.retry, keys.queue], arguments: [Array(String(now).utf8), Array(String(max).utf8)])
        return Int(reply.int ?? 0)
    }

    /// Events waiting for a retry.
    public func retryCount() async throws(RedisError) -> Int {
        Int(try await redis.send(RedisCommand("ZCARD", keys.retry)).orThrow().int ?? 0)
    }

    /// Hands `worker`'s unstored batch back to the queue, to be claimed next.
    public func release(worker: String) async throws(RedisError) {
        _ = try await redis.run(
            QueueScripts.recover, keys: [keys.processing(worker), keys.workers, keys.queue, keys.fence(worker)],
            arguments: [Array(worker.utf8), Array("force".utf8)])
    }

    /// Sets the registry deadline of each of `workers` to Redis's now + `ttl`, in one round
    /// trip; returns that deadline (Unix ms, Redis's clock).
    @discardableResult
    public func heartbeat(workers: [String], ttl: Duration) async throws(RedisError) -> Int64 {
        let reply = try await redis.run(
            QueueScripts.heartbeat, keys: [keys.workers], arguments: [Array(String(ttl.totalMilliseconds).utf8)] + workers.map { Array($0.utf8) })
        guard let deadline = reply.int else { throw .unexpectedReply("heartbeat answered \(reply)") }
        return deadline
    }

    /// Removes `workers` from the registry at a clean exit, so nobody waits for them to expire,
    /// moving back to the queue whatever their processing lists still hold; returns how many
    /// events were moved.
    @discardableResult
    public func retire(workers: [String]) async throws(RedisError) -> Int {
        guard !workers.isEmpty else { return 0 }
        let reply = try await redis.run(
            QueueScripts.retire, keys: [keys.workers, keys.queue] + workers.map(keys.processing), arguments: workers.map { Array($0.utf8) })
        return Int(reply.int ?? 0)
    }

    /// Removes `worker` from the registry at a clean exit (see `retire(workers:)`).
    @discardableResult
    public func retire(worker: String) async throws(RedisError) -> Int {
        try await retire(workers: [worker])
    }

    /// Moves the processing list of every worker whose registry deadline passed (Redis's
    /// clock) back to the queue, so those events are claimed next; returns (lists recovered,
    /// events moved). Costs one call per expired worker plus one per `page` of them, whatever
    /// else Redis holds; each worker is checked, unregistered and moved in one Lua call, so two
    /// recoverers never both move the same list and a worker that beat meanwhile is left alone.
    public func recoverAbandoned(page: Int = 100) async throws(RedisError) -> (lists: Int, events: Int) {
        var lists = 0
        var events = 0
        var seen = Set<String>()
        while true {
            let reply = try await redis.run(QueueScripts.expired, keys: [keys.workers], arguments: [Array(String(page).utf8)])
            guard let parts = reply.elements, parts.count == 2, let found = parts[1].elements else {
                throw .unexpectedReply("expired workers answered \(reply)")
            }
            let workers = found.compactMap(\.string).filter { !seen.contains($0) }
            for worker in workers {
                seen.insert(worker)
                let moved = try await redis.run(
                    QueueScripts.recover, keys: [keys.processing(worker), keys.workers, keys.queue, keys.fence(worker)],
                    arguments: [Array(worker.utf8)])
                if let count = moved.int, count > 0 {
                    lists += 1
                    events += Int(count)
                }
            }
            if found.count < page || workers.isEmpty { return (lists, events) }
        }
    }

    /// Up to `limit` dead letters, newest first (`limit` ≤ 0: all).
    public func deadLetters(limit: Int = 0) async throws(RedisError) -> [[UInt8]] {
        let reply = try await redis.send(RedisCommand("LRANGE", keys.dead, "0", String(limit > 0 ? limit - 1 : -1))).orThrow()
        return (reply.elements ?? []).compactMap(\.bytes)
    }

    /// Requeues `payload` and removes `deadLetter`, atomically; false if the dead letter was already gone.
    public func replay(deadLetter: [UInt8], payload: [UInt8]) async throws(RedisError) -> Bool {
        try await redis.run(QueueScripts.replay, keys: [keys.dead, keys.queue], arguments: [deadLetter, payload]).int == 1
    }

    /// Removes one copy of `deadLetter`; false if it was already gone.
    public func removeDeadLetter(_ deadLetter: [UInt8]) async throws(RedisError) -> Bool {
        try await redis.send(RedisCommand(arguments: [Array("LREM".utf8), Array(keys.dead.utf8), Array("1".utf8), deadLetter])).orThrow().int == 1
    }

    /// Number of dead letters.
    public func deadLetterCount() async throws(RedisError) -> Int {
        Int(try await redis.send(RedisCommand("LLEN", keys.dead)).orThrow().int ?? 0)
    }
}
