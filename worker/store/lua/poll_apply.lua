-- poll: record what the gateway said and decide each id's next poll (backoff) or stop.
-- KEYS: 1 poll set, 2 totals, then per result: record, history
-- ARGV: 1 JSON {channel, max_age_ms, first_delay_ms, max_delay_ms, final, known (statuses),
--       results = {{id, id_sms, status ('' when the gateway gave none), raw}, ...}, timings}
-- Answers {changed, stopped}
local now = now_ms()
count_timings(KEYS[2], a.timings)
local st = {final = status_set(a.final), known = status_set(a.known)}
local changed, stopped = 0, 0
for i, res in ipairs(a.results) do
  local id, id_sms = res[1], res[2]
  local r, h = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local applied = apply_status(r, h, KEYS[1], KEYS[2], a.channel, id, id_sms, res[3], res[4],
    st, now)
  if not applied then
    redis.call('ZREM', KEYS[1], id)  -- gone, resent or canceled since the lease
    stopped = stopped + 1
  else
    if applied.changed then changed = changed + 1 end
    local polls = (tonumber(applied.polls) or 0) + 1
    redis.call('HSET', r, 'polls', polls)
    if applied.final then
      stopped = stopped + 1
    elseif now - (tonumber(applied.sent_at) or now) >= a.max_age_ms then
      redis.call('ZREM', KEYS[1], id)
      record_event(r, h, a.channel, id, 'poll_gave_up')
      stopped = stopped + 1
    else
      local delay = math.min(a.first_delay_ms * (2 ^ polls), a.max_delay_ms)
      redis.call('ZADD', KEYS[1], now + delay, id)
      -- The set lives as long as its longest-lived member may still be polled.
      local keep = a.max_age_ms + a.max_delay_ms + 60000
      if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
    end
  end
end
return reply({changed = changed, stopped = stopped})
