-- send_code, step 2 (success): keep only the code's HMAC, start its TTL, queue the first poll.
-- KEYS: 1 record, 2 history, 3 lock, 4 poll set, 5 poll schedule marker
-- ARGV: 1 lock token, 2 code hmac, 3 id_sms, 4 status, 5 code ttl ms, 6 first poll delay ms
--       (0: nothing to poll), 7 channel, 8 id, 9 max attempts, 10 poll set ttl ms,
--       11 poll slack ms, 12 poll marker grace ms, 13 poll batch size
-- Returns {'sent', poll task due ms, its delay ms} (0, 0: none to queue) | {'discarded', state}
--       | {'discarded', 'lock_lost'}: the lock is no longer ours, a newer send may be under way
local r = KEYS[1]
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'discarded', 'lock_lost'} end
local state = redis.call('HGET', r, 'state')
redis.call('DEL', KEYS[3])
if state ~= 'sending' and state ~= 'sent' then return {'discarded', state or 'missing'} end
local now = now_ms()
redis.call('HSET', r, 'state', 'sent', 'updated_at', now, 'code_hmac', ARGV[2],
  'id_sms', ARGV[3], 'delivery_status', ARGV[4], 'sent_at', now,
  'expires_at', now + tonumber(ARGV[5]), 'attempts_left', ARGV[9], 'polls', 0)
redis.call('HDEL', r, 'error_code', 'error_message')
record_event(r, KEYS[2], ARGV[7], ARGV[8], 'sent', {delivery_status = ARGV[4]})
if tonumber(ARGV[6]) > 0 then
  redis.call('ZADD', KEYS[4], now + tonumber(ARGV[6]), ARGV[8])
  if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[10]) then
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[10]))
  end
  local due, delay = schedule_poll(KEYS[4], KEYS[5], tonumber(ARGV[11]), tonumber(ARGV[12]),
    '', tonumber(ARGV[13]))
  if due then return {'sent', due, delay} end
end
return {'sent', 0, 0}
