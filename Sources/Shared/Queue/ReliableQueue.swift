import Crypto
import NIOConcurrencyHelpers
import NIOCore

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

    /// Shards whose last push failed, and until when pushes avoid them.
    private let avoided = ShardAvoidance()

    /// How long a shard whose push failed is avoided: long enough not to meet a dead master (or
    /// one without the replicas `pushAcks` asks for) on every push, short enough to notice its return.
    public static let avoidance: Duration = .seconds(5)

    /// A shard to push to: one at random among those not avoided (any, when all are), so pushes
    /// spread evenly without shared state; never one of `excluding`, unless there is no other.
    public func pushShard(excluding tried: Set<Int> = []) -> QueueShardKeys {
        guard keys.shards.count > 1 else { return keys.home }
        let avoid = avoided.current()
        let fresh = keys.shards.filter { !tried.contains($0.index) }
        let healthy = fresh.filter { !avoid.contains($0.index) }
        return (healthy.randomElement() ?? fresh.randomElement()) ?? keys.shards[Int.random(in: 0..<keys.shards.count)]
    }

    /// Runs `push` on a shard picked by `pushShard`. A failed shard is avoided for a while,
    /// and the push goes to another shard, up to three in all, when nothing was written (the
    /// node refused or could not be reached) or when it was written but no replica confirmed
    /// it (`notReplicated`: the copy elsewhere is confirmed; should both survive, the store
    /// keeps one). A push whose connection broke may have been written: it is not sent again,
    /// its error is the caller's (an unknown outcome).
    private func pushSpread<T>(_ push: (QueueShardKeys) async throws(RedisError) -> T) async throws(RedisError) -> T {
        var tried = Set<Int>()
        while true {
            let shard = pushShard(excluding: tried)
            do {
                return try await push(shard)
            } catch {
                guard keys.shards.count > 1 else { throw error }
                avoided.avoid(shard.index, for: Self.avoidance)
                tried.insert(shard.index)
                let elsewhere: Bool
                if case .notReplicated = error { elsewhere = true } else { elsewhere = !error.mayHaveRun && error.isTransient }
                if !elsewhere || tried.count >= min(3, keys.shards.count) { throw error }
            }
        }
    }

    /// Pushes payloads in one variadic LPUSH to `shard`, or to a shard `pushShard` picks (another
    /// one when that one cannot be reached); returns that shard's length afterwards.
    @discardableResult
    public func enqueue(_ payloads: [[UInt8]], to shard: QueueShardKeys? = nil) async throws(RedisError) -> Int {
        let push = { [redis, pushAcks] (target: QueueShardKeys) async throws(RedisError) -> Int in
            let reply = try await redis.send(RedisCommand("LPUSH", [target.queue], values: payloads), acks: pushAcks).orThrow()
            guard let length = reply.int else { throw .unexpectedReply("LPUSH answered \(reply)") }
            return Int(length)
        }
        if let shard { return try await push(shard) }
        return try await pushSpread(push)
    }

    /// Pushes payloads unless the shard pushed to already holds its part of `highWater` or
    /// more (0: no mark); returns the length after the push, or nil when refused for being full.
    public func enqueue(_ payloads: [[UInt8]], highWater: Int) async throws(RedisError) -> Int? {
        guard highWater > 0 else { return try await enqueue(payloads) }
        let mark = (highWater + keys.shards.count - 1) / keys.shards.count
        return try await pushSpread { [redis, pushAcks] (shard: QueueShardKeys) async throws(RedisError) -> Int? in
            let reply = try await redis.run(QueueScripts.boundedPush, keys: [shard.queue], arguments: [Array(String(mark).utf8)] + payloads, acks: pushAcks)
            guard let parts = reply.elements, parts.count == 2, let pushed = parts[0].int, let length = parts[1].int else {
                throw .unexpectedReply("bounded push answered \(reply)")
            }
            return pushed == 1 ? Int(length) : nil
        }
    }

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
    private func total(_ command: (QueueShardKeys) -> [RedisCommand]) async throws(RedisError) -> [Int] {
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
        // BLMOVE runs right after the claim script registered the worker (or found it registered).
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
        return (shard, try await claim(worker: worker, max: max, wait: wait, ttl: ttl, from: shard))
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

    /// Moves `payloads` of `worker`'s batch in `shard` to the home shard's queue and leaves
    /// `kept` in its processing list there. Idempotent: the push carries a marker named by the
    /// batch's digest, so after a lost answer or a crash the same batch is not pushed twice;
    /// the marker is dropped once the processing list no longer holds the moved events.
    /// Throws `.command("NOTOWNER …")` when the batch was recovered by another worker.
    public func moveToHome(_ payloads: [[UInt8]], keeping kept: [[UInt8]], worker: String, from shard: QueueShardKeys) async throws(RedisError) {
        var digest = SHA256()
        for part in [Array(worker.utf8), Array(String(shard.index).utf8)] + payloads {
            digest.update(data: Array(String(part.count).utf8) + [0x3A] + part)
        }
        let marker = keys.moved(digest.finalize().lowercaseHex)
        _ = try await redis.run(
            QueueScripts.moveIn, keys: [keys.queue, marker], arguments: [Array(String(Self.moveMarkerLifetime.totalMilliseconds).utf8)] + payloads,
            acks: pushAcks)
        _ = try await redis.run(QueueScripts.keepOnly, keys: [shard.processing(worker), shard.fence(worker)], arguments: kept)
        _ = try? await redis.send(RedisCommand("DEL", marker))
    }

    /// How long a move marker outlives a move whose batch was never acknowledged (a crash
    /// between the push and the rewrite): longer than recovery takes to hand the batch on.
    public static let moveMarkerLifetime: Duration = .seconds(3600)

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

    /// Up to `limit` dead letters, newest first within each shard, the shards in order (`limit` ≤ 0: all).
    public func deadLetters(limit: Int = 0) async throws(RedisError) -> [[UInt8]] {
        var letters: [[UInt8]] = []
        for shard in keys.shards {
            let left = limit > 0 ? limit - letters.count : 0
            if limit > 0 && left <= 0 { break }
            let reply = try await redis.send(RedisCommand("LRANGE", shard.dead, "0", String(left > 0 ? left - 1 : -1))).orThrow()
            letters += (reply.elements ?? []).compactMap(\.bytes)
        }
        return letters
    }

    /// Requeues `payload` into the shard holding `deadLetter` and removes it there, atomically;
    /// false if the dead letter was already gone from every shard.
    public func replay(deadLetter: [UInt8], payload: [UInt8]) async throws(RedisError) -> Bool {
        for shard in keys.shards {
            if try await redis.run(QueueScripts.replay, keys: [shard.dead, shard.queue], arguments: [deadLetter, payload]).int == 1 { return true }
        }
        return false
    }

    /// Removes one copy of `deadLetter` from the first shard holding it; false if it was already gone.
    public func removeDeadLetter(_ deadLetter: [UInt8]) async throws(RedisError) -> Bool {
        for shard in keys.shards {
            let reply = try await redis.send(RedisCommand(arguments: [Array("LREM".utf8), Array(shard.dead.utf8), Array("1".utf8), deadLetter])).orThrow()
            if reply.int == 1 { return true }
        }
        return false
    }

    /// Number of dead letters, over every shard.
    public func deadLetterCount() async throws(RedisError) -> Int {
        try await total { [RedisCommand("LLEN", $0.dead)] }.first ?? 0
    }

    /// Agrees on the number of queue shards with every other process of this pipeline: the
    /// first to start records it in Redis (`configured`, else 4 per master on a cluster), the
    /// others adopt it, and one configured otherwise refuses to start. On one Redis with no
    /// `QUEUE_SHARDS`, the recorded count is adopted if there is one, else the single queue
    /// of versions before shards is kept and nothing is recorded. A transiently unreachable
    /// Redis is asked again for up to `patience`.
    public static func agreeOnShards(redis: RedisClient, keys: QueueKeys, configured: Int?, patience: Duration = .seconds(30)) async throws -> QueueKeys {
        let deadline = ContinuousClock.now + patience
        var delay = Duration.milliseconds(100)
        var reply: RedisReply
        while true {
            do throws(RedisError) {
                if !redis.isCluster && configured == nil {
                    reply = try await redis.send(RedisCommand("GET", keys.shardCount)).orThrow()
                    if reply == .null { return keys }
                    reply = Int64(reply.string ?? "").map(RedisReply.integer) ?? reply
                    break
                }
                var proposed = 1
                if let configured { proposed = configured } else { proposed = 4 * (try await redis.masters().count) }
                reply = try await redis.run(QueueScripts.agreeOnShards, keys: [keys.shardCount], arguments: [Array(String(proposed).utf8)])
                break
            } catch {
                guard error.isTransient, ContinuousClock.now + delay < deadline else { throw error }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
        guard let stored = reply.int, (1...Int64(QueueKeys.maxShards)).contains(stored) else {
            throw RedisError.unexpectedReply("\(keys.shardCount) holds \(reply), not a shard count from 1 to \(QueueKeys.maxShards)")
        }
        if let configured, configured != Int(stored) {
            throw ConfigurationError.invalid(
                key: "QUEUE_SHARDS", value: String(configured),
                expected: "\(stored), the number this pipeline's queue already has in Redis (\(keys.shardCount)); to change it, stop ingest, let the workers drain the queue, and delete that key")
        }
        return keys.with(shardCount: Int(stored))
    }
}

/// The shards pushes avoid for now (after a failed push), each until a deadline.
final class ShardAvoidance: Sendable {
    private let until = NIOLockedValueBox<[Int: NIODeadline]>([:])

    /// Avoids shard `index` for `duration` from now.
    func avoid(_ index: Int, for duration: Duration) {
        until.withLockedValue { $0[index] = .now() + .nanoseconds(Int64(duration.totalNanoseconds)) }
    }

    /// The shards avoided now; expired entries are dropped.
    func current() -> Set<Int> {
        let now = NIODeadline.now()
        return until.withLockedValue { until in
            until = until.filter { $0.value > now }
            return Set(until.keys)
        }
    }
}
