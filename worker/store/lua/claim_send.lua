-- send_code, step 1: take the per-verification send lock and move queued -> sending. The
-- record remembers the claimant's token, so only the latest claimant may store a result.
-- KEYS: 1 record, 2 history, 3 lock, 4 totals, 5 pending sends
-- ARGV: 1 JSON {token, lock_ttl_ms, channel, id}
-- The claim is the start of the send's first gateway attempt: it is noted as `attempt_at`
-- before the call, so a send resumed after this worker dies knows when that request went out.
-- Answers {outcome = 'claimed', phone, region, locale (the caller's language code, or ''), left_ms, resumed (a send was under way: its worker died
--       or stalled, and its request may have reached the gateway), since_attempt_ms (resumed:
--       how long ago the last attempt that may have been accepted started)}
--       | {outcome = 'done', state} | {outcome = 'missing'}
--       | {outcome = 'busy', lock_ms} | {outcome = 'deadline'}
local r = KEYS[1]
local f = redis.call('HMGET', r, 'state', 'phone', 'send_deadline', 'attempt_at', 'locale', 'region')
local state = f[1]
-- A worker has the message (or nothing is left to send): the sweep stops here, except while
-- another claimant holds the lock (its own claim took the id out already).
local function unpend() redis.call('ZREM', KEYS[5], a.id) end
if not state then
  unpend()
  return reply({outcome = 'missing'})
end
if state ~= 'queued' and state ~= 'sending' then
  unpend()
  return reply({outcome = 'done', state = state})
end
local now = now_ms()
local left = (tonumber(f[3]) or 0) - now
if left <= 0 then
  set_state(r, 'failed', now)
  redis.call('HSET', r, 'error_code', 'deadline_exceeded',
    'error_message', 'not sent: the send deadline passed before a worker took it')
  redis.call('HDEL', r, 'claim')
  redis.call('DEL', KEYS[3])
  count(KEYS[4], 'sms_failed:deadline_exceeded', 1)
  record_event(r, KEYS[2], a.channel, a.id, 'failed', {error = 'deadline_exceeded'})
  unpend()
  return reply({outcome = 'deadline'})
end
if not redis.call('SET', KEYS[3], a.token, 'NX', 'PX', a.lock_ttl_ms) then
  return reply({outcome = 'busy', lock_ms = math.max(redis.call('PTTL', KEYS[3]), 1)})
end
redis.call('HSET', r, 'claim', a.token, 'attempt_at', now)
unpend()
local since = nil
if state == 'sending' and f[4] then since = math.max(now - tonumber(f[4]), 0) end
if state == 'queued' then
  set_state(r, 'sending', now)
  record_event(r, KEYS[2], a.channel, a.id, 'sending')
end
return reply({outcome = 'claimed', phone = f[2], region = f[6] or '', locale = f[5] or '',
  left_ms = left, resumed = state == 'sending',
  since_attempt_ms = since})
