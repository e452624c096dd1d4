-- send_code: before each gateway attempt, make sure this claimant still owns the send: the
-- lock is extended while it is ours, taken again if it lapsed with nobody else claiming.
-- `attempt_ago_ms` (optional) notes when the last attempt that may have been accepted started:
-- 0 right before an attempt, the earlier start again while a send waits out a refusal.
-- KEYS: 1 record, 2 lock   ARGV: 1 JSON {token, ttl_ms, attempt_ago_ms}
-- Answers {held = true|false}
if redis.call('HGET', KEYS[1], 'claim') ~= a.token then return reply({held = false}) end
local holder = redis.call('GET', KEYS[2])
if holder == a.token then
  redis.call('PEXPIRE', KEYS[2], a.ttl_ms)
elseif holder then
  return reply({held = false})
else
  redis.call('SET', KEYS[2], a.token, 'PX', a.ttl_ms)
end
if a.attempt_ago_ms then redis.call('HSET', KEYS[1], 'attempt_at', now_ms() - a.attempt_ago_ms) end
return reply({held = true})
