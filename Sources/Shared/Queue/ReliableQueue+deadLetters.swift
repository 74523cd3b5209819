/// Dead letters, over every shard (the `Worker dead` tools).
extension ReliableQueue {
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
}
