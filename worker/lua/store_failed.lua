-- send_code, step 2 (failure): keep the stable error code and the gateway's own text.
-- KEYS: 1 record, 2 history, 3 lock
-- ARGV: 1 lock token, 2 error code, 3 error message, 4 id_sms or '', 5 delivery status or '',
--       6 channel, 7 id
-- Returns {'failed'} | {'discarded', state} | {'discarded', 'lock_lost'} (the lock is not ours)
local r = KEYS[1]
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'discarded', 'lock_lost'} end
local state = redis.call('HGET', r, 'state')
redis.call('DEL', KEYS[3])
if state ~= 'sending' and state ~= 'queued' then return {'discarded', state or 'missing'} end
local now = now_ms()
set_state(r, 'failed', now)
redis.call('HSET', r, 'error_code', ARGV[2], 'error_message', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', r, 'id_sms', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', r, 'delivery_status', ARGV[5]) end
redis.call('HDEL', r, 'code_hmac')
record_event(r, KEYS[2], ARGV[6], ARGV[7], 'failed', {error = ARGV[2]})
return {'failed'}
