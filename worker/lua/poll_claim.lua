-- poll: lease the due verifications (so parallel pollers do not ask for the same ids).
-- KEYS: 1 poll set   ARGV: 1 batch size, 2 lease ms, 3 record key prefix
-- Returns a flat list: id, id_sms, id, id_sms, ...
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, id in ipairs(due) do
  local id_sms = redis.call('HGET', ARGV[3] .. id, 'id_sms')
  if id_sms then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    out[#out + 1] = id
    out[#out + 1] = id_sms
  else
    redis.call('ZREM', KEYS[1], id)  -- record gone or resent: nothing to follow
  end
end
return out
