import Crypto

/// What spans shards: agreeing on how many there are, and moving a batch's throttle candidates to the home shard.
extension ReliableQueue {
    /// Agrees on the number of queue shards with every other process of this pipeline: the
    /// first to start records it in Redis (`configured`, else 4 per master on a cluster, else
    /// 1), the others adopt it, and one configured otherwise refuses to start. A transiently
    /// unreachable Redis is asked again for up to `patience`.
    public static func agreeOnShards(redis: RedisClient, keys: QueueKeys, configured: Int?, patience: Duration = .seconds(30)) async throws -> QueueKeys {
        let deadline = ContinuousClock.now + patience
        var delay = Duration.milliseconds(100)
        var reply: RedisReply
        while true {
            do throws(RedisError) {
                var proposed = 1
                if let configured { proposed = configured } else if redis.isCluster { proposed = 4 * (try await redis.masters().count) }
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

    /// Moves `payloads` of `worker`'s batch in `shard` to the home shard's queue and leaves
    /// `kept` in its processing list there. The push carries a marker named by the digest of
    /// the shard and the moved events, so the same events are not pushed twice while it lives
    /// (a retry after a lost answer, the batch recovered by another worker); a batch topped up
    /// since is pushed again, and its second copies are decided `duplicate`. The marker is
    /// dropped once the processing list no longer holds the moved events.
    /// Throws `.command("NOTOWNER …")` when the batch was recovered by another worker.
    public func moveToHome(_ payloads: [[UInt8]], keeping kept: [[UInt8]], worker: String, from shard: QueueShardKeys) async throws(RedisError) {
        var digest = SHA256()
        for part in [Array(String(shard.index).utf8)] + payloads {
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
}
