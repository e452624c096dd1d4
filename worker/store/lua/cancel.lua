-- cancel: the code stops working and polling stops; a verified record stays verified.
-- KEYS: 1 record, 2 history, 3 poll set, 4 pending sends   ARGV: 1 JSON {id, channel}
-- Answers {outcome = 'canceled'|'missing'} | {outcome = 'not_allowed', state}
local r = KEYS[1]
local state = redis.call('HGET', r, 'state')
redis.call('ZREM', KEYS[4], a.id)
if not state then return reply({outcome = 'missing'}) end
if state == 'verified' then return reply({outcome = 'not_allowed', state = state}) end
if state ~= 'canceled' then
  set_state(r, 'canceled', now_ms())
  redis.call('HDEL', r, 'code_hmac')
  redis.call('ZREM', KEYS[3], a.id)
  record_event(r, KEYS[2], a.channel, a.id, 'canceled')
end
return reply({outcome = 'canceled'})
