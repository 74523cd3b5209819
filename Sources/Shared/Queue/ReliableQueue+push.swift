import NIOConcurrencyHelpers
import NIOCore

/// Pushing: each push goes to one shard, picked at random among those that did not fail lately.
extension ReliableQueue {
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
