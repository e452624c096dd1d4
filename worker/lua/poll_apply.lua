-- poll: record what the gateway said and decide each id's next poll (backoff) or stop.
-- KEYS: 1 poll set
-- ARGV: 1 record key prefix, 2 history suffix, 3 channel, 4 max age ms, 5 first delay ms,
--       6 max delay ms, 7 final statuses (comma separated), then triples: id, id_sms, status
--       ('' when the gateway gave none)
-- Returns {ids whose status changed, ids no longer polled}
local now = now_ms()
local final = status_set(ARGV[7])
local changed, stopped = 0, 0
for i = 8, #ARGV, 3 do
  local id, id_sms, status = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local r = ARGV[1] .. id
  local applied = apply_status(r, r .. ARGV[2], ARGV[3], KEYS[1], id, id_sms, status, final, now)
  if not applied then
    redis.call('ZREM', KEYS[1], id)  -- gone, resent or canceled since the claim
    stopped = stopped + 1
  else
    if applied.changed then changed = changed + 1 end
    local polls = (tonumber(applied.polls) or 0) + 1
    redis.call('HSET', r, 'polls', polls)
    if applied.final then
      stopped = stopped + 1
    elseif now - (tonumber(applied.sent_at) or now) >= tonumber(ARGV[4]) then
      redis.call('ZREM', KEYS[1], id)
      record_event(r, r .. ARGV[2], ARGV[3], id, 'poll_gave_up')
      stopped = stopped + 1
    else
      local delay = math.min(tonumber(ARGV[5]) * (2 ^ polls), tonumber(ARGV[6]))
      redis.call('ZADD', KEYS[1], now + delay, id)
      -- The set lives as long as its longest-lived member may still be polled.
      local keep = tonumber(ARGV[4]) + tonumber(ARGV[6]) + 60000
      if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
    end
  end
end
return {changed, stopped}
