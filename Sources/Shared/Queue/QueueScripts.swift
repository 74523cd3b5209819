/// The Lua scripts of the reliable queue; each runs atomically inside Redis.
enum QueueScripts {
    /// KEYS: queue, processing. ARGV: max. Moves up to max items from the queue's right into
    /// the processing list and returns the whole list, oldest first: items left there by a
    /// claim whose answer was lost (a dropped connection) are claimed again, never orphaned.
    static let claim = RedisScript("""
        local items = tonumber(ARGV[1]) > 0 and redis.call('RPOP', KEYS[1], ARGV[1])
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

    /// KEYS: processing, dead, fence, retry. ARGV: D, then D dead letters, then (due, payload)
    /// pairs to retry later. Files the dead letters and the retries and deletes the processing
    /// list in one step; returns -1 and does none of it when the worker was fenced (its batch
    /// was recovered by another worker while it was paused), clearing the fence.
    static let acknowledge = RedisScript("""
        if redis.call('DEL', KEYS[3]) == 1 then return -1 end
        local dead = tonumber(ARGV[1])
        for i = 2, dead + 1 do
          redis.call('LPUSH', KEYS[2], ARGV[i])
        end
        for i = dead + 2, #ARGV, 2 do
          redis.call('ZADD', KEYS[4], ARGV[i], ARGV[i + 1])
        end
        return redis.call('DEL', KEYS[1])
        """)

    /// KEYS: processing, heartbeat, queue, fence. ARGV: "force" or nothing. If the heartbeat is
    /// gone (or when forced, for a worker handing back its own batch), moves the processing list
    /// back to the queue's right end (claimed next, in the original order); returns the number
    /// moved, or -1 when the owner is alive. A recovered worker is fenced for a day, so that if
    /// it was only paused it learns, at its next acknowledgement, that the batch is not its own.
    static let recover = RedisScript("""
        local forced = ARGV[1] == 'force'
        if not forced and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
        local moved = 0
        while redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT') do
          moved = moved + 1
        end
        if moved > 0 and not forced then redis.call('SET', KEYS[4], '1', 'PX', 86400000) end
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
}
