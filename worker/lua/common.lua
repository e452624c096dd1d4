-- Shared helpers, prepended to every script at load time (Lua scripts cannot include files).
-- Time comes from the Redis server so that every producer and worker agrees on "now".

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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
  redis.call('PUBLISH', channel, cjson.encode(entry))
end

local function set_state(record_key, state, at)
  redis.call('HSET', record_key, 'state', state, 'updated_at', at)
end

-- Sliding-window logs (one sorted set per bucket, scored by time): exact at every boundary.
-- Bucket specs come as triples in ARGV starting at `first`: window ms, limit, name.
-- Returns retry-after ms and the name of the bucket that fired, or nil when all have room.
local function buckets_full(keys, key_offset, n, first, now)
  local retry_after, fired = 0, nil
  for i = 1, n do
    local key = keys[key_offset + i]
    local window = tonumber(ARGV[first + (i - 1) * 3])
    local limit = tonumber(ARGV[first + (i - 1) * 3 + 1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local count = redis.call('ZCARD', key)
    if count >= limit then
      -- Room opens once enough of the oldest entries leave the window.
      local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
      local wait = tonumber(oldest[2]) + window - now
      if wait > retry_after then
        retry_after, fired = wait, ARGV[first + (i - 1) * 3 + 2]
      end
    end
  end
  if fired then return math.max(retry_after, 1), fired end
  return nil
end

local function buckets_take(keys, key_offset, n, first, now, member)
  for i = 1, n do
    local key = keys[key_offset + i]
    local window = tonumber(ARGV[first + (i - 1) * 3])
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, window)
  end
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

-- The set of final statuses from their comma-separated list.
local function status_set(csv)
  local out = {}
  for s in string.gmatch(csv, '[^,]+') do out[s] = true end
  return out
end

-- A delivery status for a verification's message, from a poll or a push (one implementation
-- for both). A final status also takes the id out of the poll set, and is never replaced by a
-- pending one (a late or repeated push). Returns nil when the record no longer follows
-- `id_sms` (gone, resent or canceled); else {changed, final, sent_at, polls}.
local function apply_status(r, h, channel, poll_key, id, id_sms, status, final, now)
  local f = redis.call('HMGET', r, 'id_sms', 'delivery_status', 'sent_at', 'polls', 'state')
  if f[1] ~= id_sms or f[5] == 'canceled' then return nil end
  local changed = status ~= '' and status ~= f[2] and not (final[f[2]] and not final[status])
  if changed then
    redis.call('HSET', r, 'delivery_status', status, 'updated_at', now)
    record_event(r, h, channel, id, 'status', {delivery_status = status})
  end
  if final[status] then redis.call('ZREM', poll_key, id) end
  return {changed = changed, final = final[status] == true, sent_at = f[3], polls = f[4]}
end
