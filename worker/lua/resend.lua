-- resend: a new gateway call means a new code, so the old one stops working here, at once.
-- KEYS: 1 record, 2 history, 3 poll set, 4.. limit buckets (the phone's cooldown among them)
-- ARGV: 1 id, 2 channel, 3 send window ms, 4 max attempts, 5 max sends, 6 record ttl ms,
--       7 number of buckets, then per bucket: window ms, limit, name
-- Returns {'ok'} | {'in_flight'} | {'unknown'} | {'not_allowed', state} | {'limited', ms, name}
local r = KEYS[1]
local f = redis.call('HMGET', r, 'state', 'sends', 'send_deadline')
local state = f[1]
if not state then return {'unknown'} end
local now = now_ms()
-- A send still within its deadline is in flight; past it, it was lost (e.g. never queued
-- because the broker was down) and may be sent again.
if (state == 'queued' or state == 'sending') and now < (tonumber(f[3]) or 0) then
  return {'in_flight'}
end
if state == 'verified' or state == 'canceled' or state == 'locked' then
  return {'not_allowed', state}
end
if (tonumber(f[2]) or 0) >= tonumber(ARGV[5]) then
  return {'limited', math.max(redis.call('PTTL', r), 1), 'sends_per_verification'}
end
local n = tonumber(ARGV[7])
local retry_after, fired = buckets_full(KEYS, 3, n, 8, now)
if retry_after then return {'limited', retry_after, fired} end
buckets_take(KEYS, 3, n, 8, now, ARGV[1] .. ':' .. now)

redis.call('HDEL', r, 'code_hmac', 'id_sms', 'delivery_status', 'expires_at', 'error_code',
  'error_message', 'sent_at')
redis.call('HSET', r, 'state', 'queued', 'updated_at', now, 'requested_at', now,
  'send_deadline', now + tonumber(ARGV[3]), 'attempts_left', ARGV[4])
redis.call('HINCRBY', r, 'sends', 1)
redis.call('PEXPIRE', r, tonumber(ARGV[6]))
redis.call('ZREM', KEYS[3], ARGV[1])
record_event(r, KEYS[2], ARGV[2], ARGV[1], 'resend')
return {'ok'}
