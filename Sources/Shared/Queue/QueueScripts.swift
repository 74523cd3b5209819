/// The Lua scripts of the reliable queue; each runs atomically inside Redis.
enum QueueScripts {
    /// KEYS: queue, processing, worker registry. ARGV: max, worker id, heartbeat TTL ms.
    /// Registers the worker (deadline: Redis's now + TTL) unless it already is, so that no
    /// processing list exists without a registry entry that recovery can find; then tops the
    /// processing list up to max items from the queue's right and returns the whole list,
    /// oldest first: items left there by a claim whose answer was lost (a dropped connection),
    /// or by a batch given up after a lost throttle answer, are claimed again, never orphaned.
    static let claim = RedisScript("""
        local time = redis.call('TIME')
        redis.call('ZADD', KEYS[3], 'NX', tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[3]), ARGV[2])
        local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
        local items = room > 0 and redis.call('RPOP', KEYS[1], room)
        if items then
          for i = 1, #items, 1000 do
            redis.call('LPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
          end
        end
        local all = redis.call('LRANGE', KEYS[2], 0, -1)
        local oldest = {}
        for i = #all, 1, -1 do oldest[#oldest + 1] = all[i] end
        return oldest
        """)

    /// KEYS: worker registry. ARGV: heartbeat TTL ms, then worker ids. Sets each worker's
    /// deadline to Redis's now + TTL (Redis's clock, so hosts' clock skew does not matter).
    static let heartbeat = RedisScript("""
        local time = redis.call('TIME')
        local deadline = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], deadline, ARGV[i]) end
        return deadline
        """)

    /// KEYS: worker registry. ARGV: max. Up to max workers whose deadline passed by Redis's
    /// clock, and that clock (Unix ms), as {now, {ids…}}.
    static let expired = RedisScript("""
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        return {now, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))}
        """)

    /// KEYS: processing, dead, fence, retry. ARGV: D, then D dead letters, then (due, payload)
    /// pairs to retry later. Files the dead letters and the retries and deletes the processing
    /// list in one step; returns -1 and does none of it when the worker was fenced (its batch
    /// was recovered by another worker while it was paused), clearing the fence.
    static let acknowledge = RedisScript("""
        if redis.call('DEL', KEYS[3]) == 1 then return -1 end
        -- No list: this acknowledgement already ran and its answer was lost; filing again would
        -- duplicate its dead letters and retries.
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local dead = tonumber(ARGV[1])
        for i = 2, dead + 1 do
          redis.call('LPUSH', KEYS[2], ARGV[i])
        end
        for i = dead + 2, #ARGV, 2 do
          redis.call('ZADD', KEYS[4], ARGV[i], ARGV[i + 1])
        end
        return redis.call('DEL', KEYS[1])
        """)

    /// KEYS: processing, worker registry, queue, fence. ARGV: worker id, "force" or nothing.
    /// Unless forced (a worker handing back its own batch), does nothing and returns -1 while
    /// the worker's deadline in the registry is still ahead of Redis's clock; otherwise removes
    /// the worker from the registry, moves its processing list back to the queue's right end
    /// (claimed next, in the original order) and returns the number moved. A recovered worker
    /// is fenced for a day, so that if it was only paused it learns, at its next acknowledgement
    /// or throttle decision, that the batch is not its own.
    static let recover = RedisScript("""
        local forced = ARGV[2] == 'force'
        if not forced then
          local time = redis.call('TIME')
          local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
          local deadline = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
          if deadline and deadline > now then return -1 end
          redis.call('ZREM', KEYS[2], ARGV[1])
        end
        local moved = 0
        while redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT') do
          moved = moved + 1
        end
        if moved > 0 and not forced then redis.call('SET', KEYS[4], '1', 'PX', 86400000) end
        return moved
        """)

    /// KEYS: worker registry, queue, then one processing list per worker. ARGV: the worker ids.
    /// A clean exit: moves whatever is left in each processing list back to the queue's right
    /// end (a batch whose acknowledgement or release failed) and unregisters the worker, so no
    /// processing list is left without a registry entry.
    static let retire = RedisScript("""
        local moved = 0
        for i = 1, #ARGV do
          while redis.call('LMOVE', KEYS[2 + i], KEYS[2], 'LEFT', 'RIGHT') do moved = moved + 1 end
          redis.call('ZREM', KEYS[1], ARGV[i])
        end
        return moved
        """)

    /// KEYS: dead, queue. ARGV: dead letter, payload. Requeues `payload` only if the dead
    /// letter is still there, removing it in the same step (two replays never requeue twice).
    static let replay = RedisScript("""
        if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
        redis.call('LPUSH', KEYS[2], ARGV[2])
        return 1
        """)

    /// KEYS: queue. ARGV: high-water mark, then payloads. Pushes only while the queue holds
    /// fewer than the mark; returns {1, length after} or {0, length}.
    static let boundedPush = RedisScript("""
        local length = redis.call('LLEN', KEYS[1])
        if length >= tonumber(ARGV[1]) then return {0, length} end
        for i = 2, #ARGV, 1000 do
          length = redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
        end
        return {1, length}
        """)

    /// KEYS: retry, queue. ARGV: now, max. Moves up to max retries due at `now` to the queue.
    static let promoteRetries = RedisScript("""
        local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
        for _, payload in ipairs(due) do
          redis.call('LPUSH', KEYS[2], payload)
          redis.call('ZREM', KEYS[1], payload)
        end
        return #due
        """)

    /// KEYS: the shard count. ARGV: a proposed count. Records the proposal unless a count is
    /// there already; returns the count in force.
    static let agreeOnShards = RedisScript("""
        local stored = redis.call('GET', KEYS[1])
        if stored then return tonumber(stored) end
        redis.call('SET', KEYS[1], ARGV[1])
        return tonumber(ARGV[1])
        """)

    /// KEYS: home queue, the batch's move marker. ARGV: marker lifetime ms, then payloads.
    /// Pushes the payloads unless the marker says this batch was moved already; the marker and
    /// the push are one step, so they survive (or are lost with a master) together. Writes in
    /// either case, so that a `WAIT` after it confirms the push however many calls ago it ran.
    static let moveIn = RedisScript("""
        if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
          -- Moved before: still write (the marker's lifetime), so that the WAIT after this call
          -- also covers that earlier push, which no replica may have confirmed.
          redis.call('PEXPIRE', KEYS[2], ARGV[1])
          return 0
        end
        for i = 2, #ARGV, 1000 do
          redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
        end
        return 1
        """)

    /// KEYS: processing, fence. ARGV: the payloads to keep. Rewrites the processing list to
    /// them; refuses with NOTOWNER (clearing the fence) when the batch was recovered by another
    /// worker while this one was paused.
    static let keepOnly = RedisScript("""
        if redis.call('DEL', KEYS[2]) == 1 then
          return redis.error_reply('NOTOWNER the batch was recovered by another worker while this one was paused')
        end
        redis.call('DEL', KEYS[1])
        for i = 1, #ARGV, 1000 do
          redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
        end
        return #ARGV
        """)
}
