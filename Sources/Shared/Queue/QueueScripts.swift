/// The Lua scripts of the reliable queue; each runs atomically inside Redis.
enum QueueScripts {
    /// KEYS: queue, processing. ARGV: max. Moves up to max items from the queue's right into
    /// the processing list and returns them, oldest first.
    static let claim = RedisScript("""
        local items = redis.call('RPOP', KEYS[1], ARGV[1])
        if not items then return {} end
        for i = 1, #items, 1000 do
          redis.call('LPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
        end
        return items
        """)

    /// KEYS: processing, dead. ARGV: dead letters. Files the dead letters and deletes the
    /// processing list in one step.
    static let acknowledge = RedisScript("""
        for i = 1, #ARGV do
          redis.call('LPUSH', KEYS[2], ARGV[i])
        end
        return redis.call('DEL', KEYS[1])
        """)

    /// KEYS: processing, heartbeat, queue. ARGV: "force" or nothing. If the heartbeat is gone
    /// (or when forced, for a worker handing back its own batch), moves the processing list
    /// back to the queue's right end (claimed next, in the original order); returns the number
    /// moved, or -1 when the owner is alive.
    static let recover = RedisScript("""
        if ARGV[1] ~= 'force' and redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
        local moved = 0
        while redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT') do
          moved = moved + 1
        end
        return moved
        """)
}
