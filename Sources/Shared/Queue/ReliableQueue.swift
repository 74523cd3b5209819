/// Redis's documented reliable-queue pattern: ingest LPUSHes to `queue`; a worker moves items
/// atomically into its own processing list, stores them, and only then deletes the list. A
/// processing list whose owner's deadline in the worker registry has passed is moved back to the queue.
///
/// The queue may be split into shards (`QueueKeys.shards`; on Redis Cluster they spread over
/// the masters): each push goes to one shard at random, a worker claims from one shard at a
/// time, and each shard has its own processing lists, registry, fences, retries and dead
/// letters, so every script runs inside one shard. Counts, recovery, retries and dead-letter
/// tools cover every shard; a method given no shard works on the home shard.
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

    /// Shards whose last push failed, and until when pushes avoid them (see `pushShard`).
    let avoided = ShardAvoidance()

    /// Runs `body` on every shard, going on past a shard that fails (one dead master must not
    /// stop the work of the others); then throws the first failure, if any.
    private func eachShard(_ body: (QueueShardKeys) async throws(RedisError) -> Void) async throws(RedisError) {
        var failure: RedisError?
        for shard in keys.shards {
            do {
                try await body(shard)
            } catch {
                failure = failure ?? error
            }
        }
        if let failure { throw failure }
    }

    /// Sums one integer reply per shard (`LLEN`, `ZCARD`), one round trip per shard. A shard
    /// that cannot be reached counts as empty unless every shard fails: health and metrics
    /// then show what they can see.
    func total(_ command: (QueueShardKeys) -> [RedisCommand]) async throws(RedisError) -> [Int] {
        var sums: [Int] = []
        var failures = 0
        var firstFailure: RedisError?
        for shard in keys.shards {
            do throws(RedisError) {
                let replies = try await redis.pipeline(command(shard))
                for (index, reply) in replies.enumerated() {
                    guard let value = try reply.orThrow().int else { throw .unexpectedReply("count answered \(reply)") }
                    if sums.count <= index { sums.append(0) }
                    sums[index] += Int(value)
                }
            } catch {
                failures += 1
                firstFailure = firstFailure ?? error
            }
        }
        if failures == keys.shards.count, let firstFailure { throw firstFailure }
        return sums
    }

    /// The queue's depth and the number of dead letters over every shard (health checks).
    public func depthAndDeadLetters() async throws(RedisError) -> (depth: Int, deadLetters: Int) {
        let sums = try await total { [RedisCommand("LLEN", $0.queue), RedisCommand("LLEN", $0.dead)] }
        return (sums.first ?? 0, sums.last ?? 0)
    }

    /// The number of events waiting in the queue, over every shard.
    public func depth() async throws(RedisError) -> Int {
        try await total { [RedisCommand("LLEN", $0.queue)] }.first ?? 0
    }

    /// Registers `worker` in `shard` (default: home) unless it is, tops its processing list
    /// there up to `max` events and returns everything in it, oldest first (leftovers of an
    /// earlier claim whose answer was lost included); waits up to `wait` for the first when the
    /// shard's queue is empty (an empty result then).
    public func claim(worker: String, max: Int, wait: Duration, ttl: Duration = .seconds(10), from shard: QueueShardKeys? = nil) async throws(RedisError) -> [[UInt8]] {
        let shard = shard ?? keys.home
        let claimed = try await take(worker: worker, max: max, ttl: ttl, from: shard)
        if !claimed.isEmpty || wait <= .zero { return claimed }
        return try await waitForFirst(worker: worker, max: max, wait: wait, ttl: ttl, in: shard)
    }

    /// Waits up to `wait` for an event in `shard`'s empty queue (BLMOVE, run right after the
    /// claim script registered the worker or found it registered), then claims as `claim` does.
    private func waitForFirst(worker: String, max: Int, wait: Duration, ttl: Duration, in shard: QueueShardKeys) async throws(RedisError) -> [[UInt8]] {
        let first = try await redis.send(
            RedisCommand("BLMOVE", shard.queue, shard.processing(worker), "RIGHT", "LEFT", String(wait.totalSeconds)),
            extraTimeout: wait
        ).orThrow()
        guard first.bytes != nil else { return [] }
        return try await take(worker: worker, max: max, ttl: ttl, from: shard)
    }

    /// Claims from the shards in turn, starting at `start`: the first that has events (or
    /// leftovers of `worker`'s) gives the batch. When all are empty, waits up to `wait` on the
    /// first that answered (events pushed meanwhile to another are claimed at the next call).
    /// Returns the shard claimed from and the batch.
    public func claimAny(worker: String, max: Int, wait: Duration, ttl: Duration = .seconds(10), start: Int) async throws(RedisError)
        -> (shard: QueueShardKeys, payloads: [[UInt8]])
    {
        let count = keys.shards.count
        let first = ((start % count) + count) % count
        if count == 1 { return (keys.home, try await claim(worker: worker, max: max, wait: wait, ttl: ttl)) }
        // A shard that fails (its master is away) is passed over; only when all fail is it an error.
        var reachable: QueueShardKeys?
        var failure: RedisError?
        for offset in 0..<count {
            let shard = keys.shards[(first + offset) % count]
            do {
                let claimed = try await take(worker: worker, max: max, ttl: ttl, from: shard)
                if !claimed.isEmpty { return (shard, claimed) }
                reachable = reachable ?? shard
            } catch {
                failure = failure ?? error
            }
        }
        guard let shard = reachable else { throw failure ?? .unavailable("no shard answered") }
        if wait <= .zero { return (shard, []) }
        return (shard, try await waitForFirst(worker: worker, max: max, wait: wait, ttl: ttl, in: shard))
    }

    private func take(worker: String, max: Int, ttl: Duration, from shard: QueueShardKeys) async throws(RedisError) -> [[UInt8]] {
        let reply = try await redis.run(
            QueueScripts.claim, keys: [shard.queue, shard.processing(worker), shard.workers],
            arguments: [Array(String(max).utf8), Array(worker.utf8), Array(String(ttl.totalMilliseconds).utf8)])
        return (reply.elements ?? []).compactMap(\.bytes)
    }

    /// Deletes `worker`'s processing list in `shard` (default: home; its batch is stored) and,
    /// in the same atomic step, files the given dead letters and schedules the given retries
    /// (payload, due in Unix ms) in that shard. Returns false, and does none of it, if the
    /// batch was recovered by another worker meanwhile (this worker was paused past its
    /// heartbeat: a zombie).
    @discardableResult
    public func acknowledge(worker: String, in shard: QueueShardKeys? = nil, deadLetters: [[UInt8]] = [], retries: [(payload: [UInt8], due: Int64)] = [])
        async throws(RedisError) -> Bool
    {
        let shard = shard ?? keys.home
        var arguments = [Array(String(deadLetters.count).utf8)] + deadLetters
        for retry in retries { arguments += [Array(String(retry.due).utf8), retry.payload] }
        let reply = try await redis.run(
            QueueScripts.acknowledge, keys: [shard.processing(worker), shard.dead, shard.fence(worker), shard.retry], arguments: arguments)
        return reply.int != -1
    }

    /// Moves up to `max` retries due at `now` back to their shard's queue, in every shard; returns how many.
    public func promoteDueRetries(now: Int64, max: Int = 500) async throws(RedisError) -> Int {
        var moved = 0
        try await eachShard { shard throws(RedisError) in
            let reply = try await redis.run(
                QueueScripts.promoteRetries, keys: [shard.retry, shard.queue], arguments: [Array(String(now).utf8), Array(String(max).utf8)])
            moved += Int(reply.int ?? 0)
        }
        return moved
    }

    /// Events waiting for a retry, over every shard.
    public func retryCount() async throws(RedisError) -> Int {
        try await total { [RedisCommand("ZCARD", $0.retry)] }.first ?? 0
    }

    /// Hands `worker`'s unstored batch in `shard` (default: home) back to that shard's queue, to be claimed next.
    public func release(worker: String, in shard: QueueShardKeys? = nil) async throws(RedisError) {
        let shard = shard ?? keys.home
        _ = try await redis.run(
            QueueScripts.recover, keys: [shard.processing(worker), shard.workers, shard.queue, shard.fence(worker)],
            arguments: [Array(worker.utf8), Array("force".utf8)])
    }

    /// Sets the registry deadline of each of `workers` to Redis's now + `ttl` in every shard's
    /// registry, one round trip per shard; returns the last deadline set (Unix ms, Redis's clock).
    @discardableResult
    public func heartbeat(workers: [String], ttl: Duration) async throws(RedisError) -> Int64 {
        var deadline: Int64 = 0
        try await eachShard { shard throws(RedisError) in
            let reply = try await redis.run(
                QueueScripts.heartbeat, keys: [shard.workers], arguments: [Array(String(ttl.totalMilliseconds).utf8)] + workers.map { Array($0.utf8) })
            guard let set = reply.int else { throw .unexpectedReply("heartbeat answered \(reply)") }
            deadline = set
        }
        return deadline
    }

    /// Removes `workers` from every shard's registry at a clean exit, so nobody waits for them
    /// to expire, moving back to each shard's queue whatever their processing lists there still
    /// hold; returns how many events were moved.
    @discardableResult
    public func retire(workers: [String]) async throws(RedisError) -> Int {
        guard !workers.isEmpty else { return 0 }
        var moved = 0
        try await eachShard { shard throws(RedisError) in
            let reply = try await redis.run(
                QueueScripts.retire, keys: [shard.workers, shard.queue] + workers.map(shard.processing), arguments: workers.map { Array($0.utf8) })
            moved += Int(reply.int ?? 0)
        }
        return moved
    }

    /// Removes `worker` from the registry at a clean exit (see `retire(workers:)`).
    @discardableResult
    public func retire(worker: String) async throws(RedisError) -> Int {
        try await retire(workers: [worker])
    }

    /// Moves the processing list of every worker whose registry deadline passed (Redis's
    /// clock) back to its shard's queue, so those events are claimed next; returns (lists
    /// recovered, events moved). Costs one call per expired worker plus one per `page` of them
    /// per shard, whatever else Redis holds; each worker is checked, unregistered and moved in
    /// one Lua call, so two recoverers never both move the same list and a worker that beat
    /// meanwhile is left alone.
    public func recoverAbandoned(page: Int = 100) async throws(RedisError) -> (lists: Int, events: Int) {
        var lists = 0
        var events = 0
        try await eachShard { shard throws(RedisError) in
            var seen = Set<String>()
            while true {
                let reply = try await redis.run(QueueScripts.expired, keys: [shard.workers], arguments: [Array(String(page).utf8)])
                guard let parts = reply.elements, parts.count == 2, let found = parts[1].elements else {
                    throw .unexpectedReply("expired workers answered \(reply)")
                }
                let workers = found.compactMap(\.string).filter { !seen.contains($0) }
                for worker in workers {
                    seen.insert(worker)
                    let moved = try await redis.run(
                        QueueScripts.recover, keys: [shard.processing(worker), shard.workers, shard.queue, shard.fence(worker)],
                        arguments: [Array(worker.utf8)])
                    if let count = moved.int, count > 0 {
                        lists += 1
                        events += Int(count)
                    }
                }
                if found.count < page || workers.isEmpty { break }
            }
        }
        return (lists, events)
    }


}
