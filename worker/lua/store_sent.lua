-- send_code, step 2 (success): keep only the code's HMAC, start its TTL, queue the first poll.
-- KEYS: 1 record, 2 history, 3 lock, 4 poll set
-- ARGV: 1 lock token, 2 code hmac, 3 id_sms, 4 status, 5 code ttl ms, 6 first poll delay ms
--       (0: nothing to poll), 7 channel, 8 id, 9 max attempts, 10 poll set ttl ms
-- Returns {'sent', first poll due ms or 0} | {'discarded', state}
local r = KEYS[1]
local state = redis.call('HGET', r, 'state')
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if state ~= 'sending' and state ~= 'sent' then return {'discarded', state or 'missing'} end
local now = now_ms()
redis.call('HSET', r, 'state', 'sent', 'updated_at', now, 'code_hmac', ARGV[2],
  'id_sms', ARGV[3], 'delivery_status', ARGV[4], 'sent_at', now,
  'expires_at', now + tonumber(ARGV[5]), 'attempts_left', ARGV[9], 'polls', 0)
redis.call('HDEL', r, 'error_code', 'error_message')
local due = 0
if tonumber(ARGV[6]) > 0 then
  due = now + tonumber(ARGV[6])
  redis.call('ZADD', KEYS[4], due, ARGV[8])
  if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[10]) then
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[10]))
  end
end
record_event(r, KEYS[2], ARGV[7], ARGV[8], 'sent', {delivery_status = ARGV[4]})
return {'sent', due}
