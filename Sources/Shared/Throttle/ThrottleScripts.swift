/// The Lua scripts of content throttling; each runs atomically inside Redis, so every worker
/// sees one count per stream. Times are Unix milliseconds passed in by the caller (the clock
/// is injected: tests pass their own).
enum ThrottleScripts {
    /// KEYS: processing list, its owner's fence, this batch's answer (kept an hour).
    /// ARGV: prefix, now, maxKeys, dedupMs, K, then K payloads to keep as they are, then 10
    /// fields per event to decide: stream, hash, day, function, first, second, deferMs,
    /// expireMs, event id, payload.
    ///
    /// Decides each event in order and rewrites the processing list to what must still be
    /// stored: the kept payloads, and the immediate (or past the key cap) ones marked
    /// `"checked":true` so that a batch recovered after a crash is not counted twice. Deferred
    /// events open a record (one per stream, identity and UTC day, due after deferMs, in the
    /// `due` set); ignored ones add to it. An event id seen in the stream within dedupMs is a
    /// `duplicate`: neither stored nor counted again (its first copy was). Refuses with
    /// NOTOWNER (clearing the fence) when the batch was recovered by another worker: this one
    /// was paused past its heartbeat. Returns one outcome per event; run again for the same
    /// batch (a lost answer), it returns the first answer and changes nothing.
    static let decide = RedisScript("""
        local cached = redis.call('GET', KEYS[3])
        if cached then
          local outcomes = {}
          for outcome in string.gmatch(cached, '[^,]+') do outcomes[#outcomes + 1] = outcome end
          return outcomes
        end
        if redis.call('DEL', KEYS[2]) == 1 then
          return redis.error_reply('NOTOWNER the batch was recovered by another worker while this one was paused')
        end
        local prefix, now, maxKeys, dedupMs, kept = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        local index, due = prefix .. 'throttle:keys', prefix .. 'throttle:due'

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

        local survivors, outcomes, counts = {}, {}, {}
        for i = 1, kept do survivors[i] = ARGV[5 + i] end
        local pruned = false
        local i = 6 + kept
        while i <= #ARGV do
          local stream, hash, day, fn = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
          local first, second = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
          local deferMs, expireMs, id, payload = tonumber(ARGV[i + 6]), tonumber(ARGV[i + 7]), ARGV[i + 8], ARGV[i + 9]
          i = i + 10
          local state = prefix .. 'throttle:state:' .. fn .. ':' .. stream .. ':' .. hash
          local record = prefix .. 'throttle:deferred:' .. stream .. ':' .. hash .. ':' .. day
          local outcome
          if not redis.call('SET', prefix .. 'throttle:seen:' .. stream .. ':' .. id, '1', 'NX', 'PX', dedupMs) then
            outcome = 'duplicate'
          elseif redis.call('EXISTS', record) == 1 then
            redis.call('HINCRBY', record, 'count', 1)
            redis.call('PEXPIRE', state, expireMs)
            if maxKeys > 0 then redis.call('ZADD', index, now + expireMs, state) end
            outcome = 'already_deferred'
          else
            if maxKeys > 0 and redis.call('EXISTS', state) == 0 then
              if not pruned then
                redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
                pruned = true
              end
              if redis.call('ZCARD', index) >= maxKeys then outcome = 'key_limit_reached' end
            end
            if not outcome then
              local allowed = strategies[fn](state, first, second)
              redis.call('PEXPIRE', state, expireMs)
              if maxKeys > 0 then redis.call('ZADD', index, now + expireMs, state) end
              if allowed then
                outcome = 'immediate'
              else
                redis.call('HSET', record, 'count', 1, 'payload', payload, 'opened', now)
                redis.call('ZADD', due, now + deferMs, record)
                outcome = 'deferred'
              end
            end
          end
          if outcome == 'immediate' or outcome == 'key_limit_reached' then
            survivors[#survivors + 1] = string.sub(payload, 1, -2) .. ',"checked":true}'
          end
          outcomes[#outcomes + 1] = outcome
          counts[outcome] = (counts[outcome] or 0) + 1
        end
        redis.call('DEL', KEYS[1])
        for j = 1, #survivors, 1000 do
          redis.call('RPUSH', KEYS[1], unpack(survivors, j, math.min(j + 999, #survivors)))
        end
        local stats = prefix .. 'throttle:stats'
        redis.call('HINCRBY', stats, 'tracked', #outcomes)
        for name, n in pairs(counts) do redis.call('HINCRBY', stats, name, n) end
        redis.call('SET', KEYS[3], table.concat(outcomes, ','), 'PX', 3600000)
        return outcomes
        """)

    /// KEYS: due set, queue, stats. ARGV: now, max.
    /// Takes up to max due deferral records and queues one summary per record: the deferred
    /// event's payload with `"count":N,"throttled":true` and a `summary_id` of its own (the
    /// record and when it opened), stored as the summary's `_id` so that it never collides
    /// with an event's. Atomic, so exactly one worker queues each summary; the summary then
    /// goes through the reliable queue like any event.
    static let flushDue = RedisScript("""
        local records = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
        for _, record in ipairs(records) do
          local fields = redis.call('HMGET', record, 'payload', 'count', 'opened')
          if fields[1] then
            local id = 'summary:' .. record .. ':' .. (fields[3] or '0')
            redis.call('LPUSH', KEYS[2], string.sub(fields[1], 1, -2) .. ',"count":' .. (fields[2] or '1')
              .. ',"throttled":true,"summary_id":' .. cjson.encode(id) .. '}')
          end
          redis.call('DEL', record)
          redis.call('ZREM', KEYS[1], record)
        end
        if #records > 0 then redis.call('HINCRBY', KEYS[3], 'processed', #records) end
        return #records
        """)

    /// KEYS: queue, stats. ARGV: prefix, now, high-water mark (0: none; at or above it nothing
    /// is checked or pushed and the answer is {-1, {}}), then 10 fields per event: payload and, for the
    /// site, user and address scopes in that order, key (empty: not limited), limit, period ms.
    ///
    /// Rate limits and the enqueue in one round trip. Each event is checked against every
    /// limited scope (GCRA: theoretical arrival time per key, burst = limit); it is pushed only
    /// if all allow, and only then are its keys advanced. Returns the queue length, then per
    /// event {allowed (1/0), refusing scope index or -1, retry after ms, limit, remaining, reset ms}
    /// for the most restrictive scope (limit 0: no scope limited).
    static let admit = RedisScript("""
        local prefix, now, highWater = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
        if highWater > 0 and redis.call('LLEN', KEYS[1]) >= highWater then return {-1, {}} end
        local scopes = {'site', 'user', 'address'}
        local results, pushes, refused = {}, {}, {}
        local i = 4
        while i <= #ARGV do
          local payload = ARGV[i]
          local deny, tightest, updates = nil, nil, {}
          for s = 0, 2 do
            local key = ARGV[i + 1 + s * 3]
            if key ~= '' then
              local limit, period = tonumber(ARGV[i + 2 + s * 3]), tonumber(ARGV[i + 3 + s * 3])
              local full = prefix .. 'throttle:rate:' .. key
              local interval = period / limit
              local tat = math.max(tonumber(redis.call('GET', full)) or now, now)
              local next = tat + interval
              if next - now > period + 0.000001 then  -- tolerance: period/limit is rarely exact
                local retry = next - now - period
                if not deny or retry > deny[2] then deny = {s, retry, limit} end
              else
                local remaining = math.floor((period - (next - now)) / interval + 0.000001)
                updates[#updates + 1] = {full, next}
                if not tightest or remaining < tightest[2] then tightest = {limit, remaining, next - now} end
              end
            end
          end
          if deny then
            results[#results + 1] = {0, deny[1], math.ceil(deny[2]), deny[3], 0, math.ceil(deny[2])}
            refused[scopes[deny[1] + 1]] = (refused[scopes[deny[1] + 1]] or 0) + 1
          else
            for _, update in ipairs(updates) do
              redis.call('SET', update[1], string.format('%.17g', update[2]), 'PX', math.ceil(update[2] - now) + 1)
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
        return {redis.call('LLEN', KEYS[1]), results}
        """)
}
