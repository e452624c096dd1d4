-- send_code, step 1: take the per-verification send lock and move queued -> sending.
-- KEYS: 1 record, 2 history, 3 lock   ARGV: 1 lock token, 2 lock ttl ms, 3 channel, 4 id
-- Returns {'claimed', phone, ms left before the send deadline, state before the claim}
--       | {'done', state} | {'missing'}
--       | {'busy', lock ms left} | {'deadline'}
local r = KEYS[1]
local f = redis.call('HMGET', r, 'state', 'phone', 'send_deadline')
local state = f[1]
if not state then return {'missing'} end
if state ~= 'queued' and state ~= 'sending' then return {'done', state} end
local now = now_ms()
local left = (tonumber(f[3]) or 0) - now
if left <= 0 then
  set_state(r, 'failed', now)
  redis.call('HSET', r, 'error_code', 'deadline_exceeded',
    'error_message', 'not sent: the send deadline passed before a worker took it')
  redis.call('DEL', KEYS[3])
  record_event(r, KEYS[2], ARGV[3], ARGV[4], 'failed', {error = 'deadline_exceeded'})
  return {'deadline'}
end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  return {'busy', math.max(redis.call('PTTL', KEYS[3]), 1)}
end
if state == 'queued' then
  set_state(r, 'sending', now)
  record_event(r, KEYS[2], ARGV[3], ARGV[4], 'sending')
end
return {'claimed', f[2], left, state}
