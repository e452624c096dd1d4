-- Shared helpers, prepended to every script at load time (Lua scripts cannot include files).
-- Every key a script touches arrives in KEYS (worker/store/keys.py names them); ARGV[1] is the
-- step's JSON input and every script answers with one JSON object.
-- Time comes from the Redis server so that every producer and worker agrees on "now"; a
-- Store built with a clock (tests) passes its own `now_ms` instead.

local a = cjson.decode(ARGV[1])

local function now_ms()
  if a.now_ms then return a.now_ms end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function reply(t) return cjson.encode(t) end

-- The events a site's webhook is told of (steps/webhooks.py: webhook_type): a delivery status
-- only once it is final (`a.final`, the steps that apply statuses pass it). Nothing else is
-- kept for the relay: a `queued` or `sending` is no site's business.
local WEBHOOK_EVENTS = {sent = true, failed = true, verified = true, expired = true,
  canceled = true, locked = true, status = true}

local function webhook_worthy(event, extra)
  if not WEBHOOK_EVENTS[event] then return false end
  if event ~= 'status' then return true end
  local status = extra and extra.delivery_status
  for _, s in ipairs(a.final or {}) do
    if s == status then return true end
  end
  return false
end

-- Append an event to the verification's history (bounded) and tell subscribers.
local function record_event(record_key, history_key, channel, id, event, extra)
  local at = now_ms()
  local entry = {at = at, event = event}
  if extra then
    for k, v in pairs(extra) do entry[k] = v end
  end
  redis.call('RPUSH', history_key, cjson.encode(entry))
  redis.call('LTRIM', history_key, -50, -1)
  local ttl = redis.call('PTTL', record_key)
  if ttl > 0 then redis.call('PEXPIRE', history_key, ttl) end
  entry.id = id
  entry.state = redis.call('HGET', record_key, 'state')
  local payload = cjson.encode(entry)
  redis.call('PUBLISH', channel, payload)
  -- A webhook's event of a verification made through the HTTP API with a key that has a
  -- webhook: the relay reads this stream (`a.hooks`: calls.py, hooks_arg), which keeps what a
  -- crashed relay has not queued yet. The key's hash is read by the name the record holds (the
  -- store's hash tag puts it in this slot on a cluster, as api_key_auth.lua does).
  local hooks = a.hooks
  if not hooks or not webhook_worthy(event, extra) then return end
  local site = redis.call('HGET', record_key, 'site')
  if not site or site == '' then return end
  local url = redis.call('HGET', hooks.sites .. site, 'webhook_url')
  if url and url ~= '' then
    redis.call('XADD', hooks.stream, 'MAXLEN', '~', 100000, '*', 'site', site, 'event', payload)
  end
end

-- Note a send whose task message is about to be published: due for the sweep at `due`, and
-- numbered in the count of send messages published (the record's `send_seq`), so the sweep can
-- tell whether its message may still wait in the queue (sweep_sends.lua). Both keys outlive
-- every record they name.
local function note_pending_send(record_key, pending_key, published_key, id, due, ttl_ms)
  redis.call('ZADD', pending_key, due, id)
  redis.call('PEXPIRE', pending_key, ttl_ms)
  redis.call('HSET', record_key, 'send_seq', redis.call('INCR', published_key))
  redis.call('PEXPIRE', published_key, ttl_ms)
end

local function set_state(record_key, state, at)
  redis.call('HSET', record_key, 'state', state, 'updated_at', at)
end

-- All-time counters for the metrics exporter (one hash, no TTL: counters only grow).
local function count(totals_key, field, n)
  redis.call('HINCRBY', totals_key, field, n or 1)
end

-- Gateway request durations the step's caller observed: {endpoint, seconds, bucket bound}.
local function count_timings(totals_key, timings)
  for _, t in ipairs(timings or {}) do
    redis.call('HINCRBY', totals_key, 'gw:' .. t[1] .. ':count', 1)
    redis.call('HINCRBYFLOAT', totals_key, 'gw:' .. t[1] .. ':sum', t[2])
    redis.call('HINCRBY', totals_key, 'gw:' .. t[1] .. ':le:' .. t[3], 1)
  end
end

-- Only the latest claimant of a send may end it (store_sent, store_failed): a send whose claim
-- another worker took over must never store over, or beside, the newer send. The claimant's
-- own lock is released either way. Returns true when `token` may end the send; else false and
-- the record's state ('missing' when there is none) for the `discarded` answer.
local function claimant_ends_send(record_key, lock_key, token)
  local f = redis.call('HMGET', record_key, 'state', 'claim')
  local state = f[1]
  if f[2] ~= token then return false, state or 'missing' end
  if redis.call('GET', lock_key) == token then redis.call('DEL', lock_key) end
  if state ~= 'sending' then return false, state or 'missing' end
  return true, state
end

-- Five-minute statistics bucket for `targetsms stats` (kept a day).
local function stat(stats_key, field, n, ttl_ms)
  redis.call('HINCRBY', stats_key, field, n)
  redis.call('PEXPIRE', stats_key, ttl_ms)
end

-- One outcome of the HTTP API key that owns a verification (`site`; nil: made in Python, not
-- counted), in the step that decided it: fields site:<name>:<outcome> (store/api_keys.py).
local function count_site(site, stats_key, totals_key, outcome, ttl_ms)
  if not site or site == '' then return end
  local field = 'site:' .. site .. ':' .. outcome
  stat(stats_key, field, 1, ttl_ms)
  count(totals_key, field, 1)
end

-- The one sliding-window log (a sorted set scored by time): exact at every boundary.
-- Milliseconds until the window has room for one more entry (0: room now).
local function window_wait(key, window, limit, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then return 0 end
  -- Room opens once enough of the oldest entries leave the window.
  local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end

local function window_add(key, window, member, now)
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
end

-- The gate every SMS passes, a first request or a resend alike. KEYS from `first` on:
-- deny set, prefix sends, prefix verifications, prefix pumping flag, stats bucket, totals,
-- then one log per limit (in the order of g.limits). `g` is the SmsGate (worker/limits.py).
-- Returns nil when the SMS was admitted and counted everywhere, or the refusal.
local function admit_sms(first, g, now)
  local deny, sends, verified, flag = KEYS[first], KEYS[first + 1], KEYS[first + 2], KEYS[first + 3]
  local stats, totals = KEYS[first + 4], KEYS[first + 5]
  local logs = first + 6
  -- The operator's deny list: the number itself or any prefix from a country code up.
  for i = 2, #g.phone do
    if redis.call('SISMEMBER', deny, string.sub(g.phone, 1, i)) == 1 then
      return {code = 'phone_not_allowed', why = 'deny_list'}
    end
  end
  local wait, fired = 0, nil
  for i, limit in ipairs(g.limits) do
    local w = window_wait(KEYS[logs + i - 1], limit.window_ms, limit.limit, now)
    if w > wait then wait, fired = w, limit.name end
  end
  if fired then return {code = 'rate_limited', why = fired, retry_after_ms = wait} end
  -- Step-up: unusual volume from this IP or prefix, or suspected pumping, wants a captcha.
  local function volume(name)
    for i, limit in ipairs(g.limits) do
      if limit.name == name then return redis.call('ZCARD', KEYS[logs + i - 1]) end
    end
    return 0
  end
  local suspicion = nil
  if redis.call('EXISTS', flag) == 1 then
    suspicion = 'pumping'
  elseif g.step_up then
    if volume('ip_hour') >= g.step_up.ip_per_hour then
      suspicion = 'ip_volume'
    elseif volume('prefix_hour') >= g.step_up.prefix_per_hour then
      suspicion = 'prefix_volume'
    end
  end
  if suspicion and not g.captcha_passed then
    if suspicion == 'pumping' and g.pumping.refuse then
      return {code = 'rate_limited', why = 'pumping'}
    end
    return {code = 'captcha_required', why = suspicion}
  end

  for i, limit in ipairs(g.limits) do
    window_add(KEYS[logs + i - 1], limit.window_ms, g.member, now)
  end
  -- Conversion per prefix over a sliding window: pumped numbers never verify.
  local p = g.pumping
  redis.call('ZREMRANGEBYSCORE', sends, '-inf', now - p.window_ms)
  redis.call('ZREMRANGEBYSCORE', verified, '-inf', now - p.window_ms)
  window_add(sends, p.window_ms, g.member, now)
  local n_sends = redis.call('ZCARD', sends)
  local n_verified = redis.call('ZCARD', verified)
  local flagged = false
  if n_sends >= p.min_sends and n_verified < n_sends * p.min_conversion
     and redis.call('EXISTS', flag) == 0 then
    redis.call('SET', flag, now, 'PX', p.cooloff_ms)
    flagged = true
  end
  stat(stats, 'sent', 1, g.stats_ttl_ms)
  stat(stats, 'sent:' .. g.region, 1, g.stats_ttl_ms)
  count(totals, 'sms_requested', 1)
  return nil, flagged
end

-- Give back what admit_sms counted for `member` (the publish that would send it failed).
local function unadmit_sms(first, g)
  redis.call('ZREM', KEYS[first + 1], g.member)
  for i = 1, #g.limits do redis.call('ZREM', KEYS[first + 5 + i], g.member) end
  stat(KEYS[first + 4], 'sent', -1, g.stats_ttl_ms)
  stat(KEYS[first + 4], 'sent:' .. g.region, -1, g.stats_ttl_ms)
  count(KEYS[first + 5], 'sms_requested', -1)
end

-- A delivery status for a verification's message, from a poll or a push (one implementation
-- for both). Input is not trusted: a status outside `known` is recorded and counted as `other`
-- (its raw text, cut short, goes to the history only), each status counts once per record, and
-- a final status is final: a later pending one is ignored, a later different final one is
-- noted in the history but neither replaces it nor counts. A final status also takes the id out
-- of the poll set. Returns nil when the record no longer follows `id_sms` (gone, resent or
-- canceled); else {changed, final, sent_at, polls}.
local function apply_status(r, h, poll, totals, channel, id, id_sms, status, raw, st, now)
  local f = redis.call('HMGET', r, 'id_sms', 'delivery_status', 'sent_at', 'polls', 'state',
    'delivery_counted')
  if f[1] ~= id_sms or f[5] == 'canceled' then return nil end
  status = type(status) == 'string' and status or ''
  if status ~= '' and not st.known[status] then
    raw, status = (type(raw) == 'string' and raw ~= '') and raw or status, 'other'
  end
  local note = nil
  if status == 'other' then
    note = string.sub(string.gsub(string.sub(raw, 1, 32), '[^%w_%-%.]', '?'), 1, 32)
  end
  local final, current = st.final, f[2]
  -- 'ID_SMS|,send,other,!not_deliver,': statuses counted, and late final ones noted, for this
  -- message (a resend starts afresh); store_sent counted the first status and left no mark.
  local tag = id_sms .. '|'
  local marks = f[6]
  if not marks or string.sub(marks, 1, #tag) ~= tag then
    marks = tag .. (current and (',' .. current .. ',') or ',')
  end
  local function first_time(mark)
    if string.find(marks, ',' .. mark .. ',', #tag, true) then return false end
    marks = marks .. mark .. ','
    redis.call('HSET', r, 'delivery_counted', marks)
    return true
  end
  local changed = status ~= '' and status ~= current and not final[current]
  if changed then
    redis.call('HSET', r, 'delivery_status', status, 'updated_at', now)
    record_event(r, h, channel, id, 'status', {delivery_status = status, raw = note})
    if first_time(status) then count(totals, 'delivery:' .. status, 1) end
  elseif final[current] and final[status] and status ~= current and first_time('!' .. status) then
    record_event(r, h, channel, id, 'late_status', {delivery_status = status})
  end
  if final[status] then redis.call('ZREM', poll, id) end
  return {changed = changed, final = final[status] == true, sent_at = f[3], polls = f[4]}
end

local function status_set(list)
  local out = {}
  for _, s in ipairs(list) do out[s] = true end
  return out
end

-- Make sure one poll task is queued for the earliest due id; many sends in the same moment
-- share it, hence one `state` request for many ids. Returns due ms and delay ms when the
-- caller must queue that task now, nil when one already is.
local function schedule_poll(poll_key, marker_key, slack, grace, clear, batch)
  if clear ~= '' and redis.call('GET', marker_key) == clear then
    redis.call('DEL', marker_key)
  end
  local first = redis.call('ZRANGE', poll_key, 0, 0, 'WITHSCORES')
  if #first == 0 then return nil end
  local now = now_ms()
  local due = math.max(tonumber(first[2]), now)
  -- Right after a poll, wait out the slack unless a full batch is already due: under steady
  -- load this gathers many ids per request instead of polling back to back for one or two.
  if clear ~= '' and redis.call('ZCOUNT', poll_key, '-inf', now) < batch then
    due = math.max(due, now + slack)
  end
  local marked = tonumber(redis.call('GET', marker_key) or '')
  if marked and marked <= due + slack then return nil end
  redis.call('SET', marker_key, due, 'PX', due - now + grace)
  return due, due - now
end
