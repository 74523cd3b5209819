/// The Lua scripts of content throttling; each runs atomically inside Redis, so every worker
/// sees one count per stream. Times are Unix milliseconds passed in by the caller (the clock
/// is injected: tests pass their own).
enum ThrottleScripts {
    /// KEYS: processing list, its owner's fence, key index, due set, stats, then per event its
    /// counter, its deferral record and its list of recent ids. ARGV: now, maxKeys (0: no cap),
    /// ids remembered per identity, record margin ms, K, then K payloads to keep as they are,
    /// then 9 fields per event: stream, function, first, second, deferMs, expireMs, event id,
    /// payload, and the payload marked as decided (built by `QueueEnvelope`, never here).
    ///
    /// Decides each event in order and rewrites the processing list to what must still be
    /// stored: the kept payloads, and the immediate (or past the key cap) ones in their marked
    /// form (`"checked":true`) so that a batch recovered after a crash, or re-read after a lost
    /// answer, is not counted twice. Deferred events open a record (one per stream, identity
    /// and UTC day, due after deferMs, in the `due` set, living deferMs + margin so that the
    /// flush always comes first); ignored ones add to it. Every counter and record is in the
    /// key index with its expiry and counts against maxKeys. Dedup of client retries needs no
    /// per-event key: a second copy of an id in the same call is a `duplicate`, and so is a copy
    /// of one of the last `ids` ids counted for its identity (stored, deferred or counted into a
    /// record: a capped list living as long as the identity's counter); an older copy is counted
    /// again. Refuses with NOTOWNER (clearing the fence) when the
    /// batch was recovered by another worker: this one was paused past its deadline.
    static let decide = RedisScript("""
        if redis.call('DEL', KEYS[2]) == 1 then
          return redis.error_reply('NOTOWNER the batch was recovered by another worker while this one was paused')
        end
        local now, maxKeys, ring, margin, kept = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        local index, due = KEYS[3], KEYS[4]

        local strategies = {}
        -- at most `limit` per epoch-aligned window
        strategies.fixed = function(key, limit, window)
          local start = now - (now % window)
          local state = redis.call('HMGET', key, 'w', 'c')
          local count = 0
          if tonumber(state[1]) == start then count = tonumber(state[2]) end
          if count >= limit then return false end
          redis.call('HSET', key, 'w', start, 'c', count + 1)
          return true
        end
        -- `size` tokens, `rate` back per second
        strategies.bucket = function(key, size, rate)
          local state = redis.call('HMGET', key, 't', 'ts')
          local tokens, last = tonumber(state[1]), tonumber(state[2])
          if not tokens then tokens, last = size, now end
          tokens = math.min(size, tokens + math.max(0, now - last) * rate / 1000)
          local allowed = tokens >= 1
          if allowed then tokens = tokens - 1 end
          redis.call('HSET', key, 't', string.format('%.6f', tokens), 'ts', now)
          return allowed
        end
        -- at most `limit` in (now - window, now]: a log of allowed times, newest first
        strategies.sliding = function(key, limit, window)
          while true do
            local oldest = redis.call('LINDEX', key, -1)
            if not oldest or tonumber(oldest) > now - window then break end
            redis.call('RPOP', key)
          end
          if redis.call('LLEN', key) >= limit then return false end
          redis.call('LPUSH', key, now)
          return true
        end
        -- remembers `id` among the last `ring` ids counted for an identity
        local function remember(ids, id, expireMs)
          if ring <= 0 then return end
          redis.call('LPUSH', ids, id)
          redis.call('LTRIM', ids, 0, ring - 1)
          redis.call('PEXPIRE', ids, expireMs)
        end
        local pruned = false
        local function full()
          if maxKeys <= 0 then return false end
          if not pruned then
            redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
            pruned = true
          end
          return redis.call('ZCARD', index) >= maxKeys
        end

        local survivors, outcomes, counts, seen = {}, {}, {}, {}
        for i = 1, kept do survivors[i] = ARGV[5 + i] end
        local i, e = 6 + kept, 0
        while i <= #ARGV do
          local stream, fn = ARGV[i], ARGV[i + 1]
          local first, second = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
          local deferMs, expireMs, id, payload, checked = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5]), ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
          i = i + 9
          local state, record, ids = KEYS[6 + e * 3], KEYS[7 + e * 3], KEYS[8 + e * 3]
          e = e + 1
          local outcome
          if seen[stream .. '\\n' .. id] or (ring > 0 and redis.call('LPOS', ids, id)) then
            outcome = 'duplicate'
          elseif redis.call('EXISTS', record) == 1 then
            redis.call('HINCRBY', record, 'count', 1)
            remember(ids, id, expireMs)
            redis.call('PEXPIRE', state, expireMs)
            if maxKeys > 0 then redis.call('ZADD', index, now + expireMs, state) end
            outcome = 'already_deferred'
          else
            if redis.call('EXISTS', state) == 0 and full() then outcome = 'key_limit_reached' end
            if not outcome then
              local allowed = strategies[fn](state, first, second)
              redis.call('PEXPIRE', state, expireMs)
              if maxKeys > 0 then redis.call('ZADD', index, now + expireMs, state) end
              if allowed then
                remember(ids, id, expireMs)
                outcome = 'immediate'
              elseif full() then
                outcome = 'key_limit_reached'
              else
                redis.call('HSET', record, 'count', 1, 'payload', payload, 'opened', now)
                remember(ids, id, expireMs)
                redis.call('PEXPIRE', record, deferMs + margin)
                if maxKeys > 0 then redis.call('ZADD', index, now + deferMs + margin, record) end
                redis.call('ZADD', due, now + deferMs, record)
                outcome = 'deferred'
              end
            end
          end
          seen[stream .. '\\n' .. id] = true
          if outcome == 'immediate' or outcome == 'key_limit_reached' then
            survivors[#survivors + 1] = checked
          end
          outcomes[#outcomes + 1] = outcome
          counts[outcome] = (counts[outcome] or 0) + 1
        end
        redis.call('DEL', KEYS[1])
        for j = 1, #survivors, 1000 do
          redis.call('RPUSH', KEYS[1], unpack(survivors, j, math.min(j + 999, #survivors)))
        end
        redis.call('HINCRBY', KEYS[5], 'tracked', #outcomes)
        for name, n in pairs(counts) do redis.call('HINCRBY', KEYS[5], name, n) end
        return outcomes
        """)

    /// KEYS: due set, queue, stats, key index, then the due records read by the caller. ARGV:
    /// per record, the count and opening time read, and its summary (all three empty when the
    /// record was gone; `?`, the opening time and nothing when it could not be read).
    ///
    /// For each record still as read (same count, same opening), queues its summary, deletes it
    /// and drops it from the due set and the index: atomic, so exactly one worker queues each
    /// summary, which then goes through the reliable queue like any event. A record counted
    /// into meanwhile is left for the next flush; one found gone (expired after days without a
    /// flush, or lost with a Redis restored from an old file) or unreadable (deleted, so it does
    /// not hold up the flushes behind it) is counted as `summary_lost`, never silently.
    /// Returns {queued, lost}.
    static let flushDue = RedisScript("""
        local queued, lost = 0, 0
        for j = 5, #KEYS do
          local record, a = KEYS[j], (j - 5) * 3
          local count, opened, summary = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
          local fields = redis.call('HMGET', record, 'count', 'opened')
          if count == '' then
            if not fields[2] and redis.call('ZREM', KEYS[1], record) == 1 then
              redis.call('ZREM', KEYS[4], record)
              lost = lost + 1
            end
          elseif count == '?' then
            if fields[2] == opened then
              redis.call('DEL', record)
              redis.call('ZREM', KEYS[1], record)
              redis.call('ZREM', KEYS[4], record)
              lost = lost + 1
            end
          elseif fields[1] == count and fields[2] == opened then
            redis.call('LPUSH', KEYS[2], summary)
            redis.call('DEL', record)
            redis.call('ZREM', KEYS[1], record)
            redis.call('ZREM', KEYS[4], record)
            queued = queued + 1
          end
        end
        if queued > 0 then redis.call('HINCRBY', KEYS[3], 'processed', queued) end
        if lost > 0 then redis.call('HINCRBY', KEYS[3], 'summary_lost', lost) end
        return {queued, lost}
        """)

    /// KEYS: queue, stats, rate-key index, then the rate-limit counters the events count
    /// against. ARGV: now, high-water mark (0: none; at or above it nothing is checked or pushed
    /// and the answer is {-1, {}}), most tracked keys (0: no cap), then 10 fields per event:
    /// payload and, for the site, user and address scopes in that order, the index of its
    /// counter in KEYS (0: not limited), limit, period ms.
    ///
    /// Rate limits and the enqueue in one round trip. Each event is checked against every
    /// limited scope (GCRA: theoretical arrival time per key, burst = limit); it is pushed only
    /// if all allow, and only then are its keys advanced. Returns the queue length, then per
    /// event {allowed (1/0), refusing scope index or -1, retry after ms, limit, remaining, reset ms}
    /// for the most restrictive scope (limit 0: no scope limited).
    ///
    /// Every key lives until its GCRA state is back to "fully available" (PX) and is in the
    /// index with that expiry. The index is pruned once per call; when it holds maxKeys live
    /// keys a key that is not tracked yet stays untracked: its event is admitted (fail open,
    /// never a wrong 429) and counted as `rate_untracked` in the stats hash.
    static let admit = RedisScript("""
        local now, highWater, maxKeys = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        if highWater > 0 and redis.call('LLEN', KEYS[1]) >= highWater then return {-1, {}} end
        local scopes = {'site', 'user', 'address'}
        local results, pushes, refused = {}, {}, {}
        local tracked, untracked = -1, 0
        if maxKeys > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now) end
        local i = 4
        while i <= #ARGV do
          local payload = ARGV[i]
          local deny, tightest, updates = nil, nil, {}
          for s = 0, 2 do
            local key = tonumber(ARGV[i + 1 + s * 3])
            if key > 0 then
              local limit, period = tonumber(ARGV[i + 2 + s * 3]), tonumber(ARGV[i + 3 + s * 3])
              local full = KEYS[key]
              local interval = period / limit
              local stored = tonumber(redis.call('GET', full))
              local tat = math.max(stored or now, now)
              local next = tat + interval
              if next - now > period + 0.000001 then  -- tolerance: period/limit is rarely exact
                local retry = next - now - period
                if not deny or retry > deny[2] then deny = {s, retry, limit} end
              else
                local remaining = math.floor((period - (next - now)) / interval + 0.000001)
                updates[#updates + 1] = {full, next, stored == nil}
                if not tightest or remaining < tightest[2] then tightest = {limit, remaining, next - now} end
              end
            end
          end
          if deny then
            results[#results + 1] = {0, deny[1], math.ceil(deny[2]), deny[3], 0, math.ceil(deny[2])}
            refused[scopes[deny[1] + 1]] = (refused[scopes[deny[1] + 1]] or 0) + 1
          else
            for _, update in ipairs(updates) do
              local track = true
              if maxKeys > 0 and update[3] then
                if tracked < 0 then tracked = redis.call('ZCARD', KEYS[3]) end
                if tracked >= maxKeys then
                  track = false
                  untracked = untracked + 1
                else
                  tracked = tracked + 1
                end
              end
              if track then
                local ttl = math.ceil(update[2] - now) + 1
                redis.call('SET', update[1], string.format('%.17g', update[2]), 'PX', ttl)
                if maxKeys > 0 then redis.call('ZADD', KEYS[3], now + ttl, update[1]) end
              end
            end
            pushes[#pushes + 1] = payload
            if tightest then
              results[#results + 1] = {1, -1, 0, tightest[1], tightest[2], math.ceil(tightest[3])}
            else
              results[#results + 1] = {1, -1, 0, 0, 0, 0}
            end
          end
          i = i + 10
        end
        for j = 1, #pushes, 1000 do
          redis.call('LPUSH', KEYS[1], unpack(pushes, j, math.min(j + 999, #pushes)))
        end
        for scope, n in pairs(refused) do redis.call('HINCRBY', KEYS[2], 'rate_limited:' .. scope, n) end
        if untracked > 0 then redis.call('HINCRBY', KEYS[2], 'rate_untracked', untracked) end
        return {redis.call('LLEN', KEYS[1]), results}
        """)
}
