-- cancel: the code stops working and polling stops; a verified record stays verified.
-- KEYS: 1 record, 2 history, 3 poll set   ARGV: 1 id, 2 channel
-- Returns {'ok', state} | {'unknown'} | {'not_allowed', state}
local r = KEYS[1]
local state = redis.call('HGET', r, 'state')
if not state then return {'unknown'} end
if state == 'verified' then return {'not_allowed', state} end
if state ~= 'canceled' then
  set_state(r, 'canceled', now_ms())
  redis.call('HDEL', r, 'code_hmac')
  redis.call('ZREM', KEYS[3], ARGV[1])
  record_event(r, KEYS[2], ARGV[2], ARGV[1], 'canceled')
end
return {'ok', 'canceled'}
