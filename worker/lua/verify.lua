-- verify_code: every outcome decided in one atomic step, the code compared in constant time.
-- KEYS: 1 record, 2 history   ARGV: 1 candidate HMAC (hex), 2 channel, 3 id
-- Returns {reason, attempts_left}
local function ct_equal(a, b)
  if #a ~= #b then return false end
  local acc = 0
  for i = 1, #a do
    acc = bit.bor(acc, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return acc == 0
end

local r = KEYS[1]
local fields = redis.call('HMGET', r, 'state', 'expires_at', 'attempts_left', 'code_hmac')
local state = fields[1]
if not state then return {'unknown', 0} end
local left = tonumber(fields[3]) or 0
if state == 'verified' then return {'already_used', left} end
if state == 'queued' or state == 'sending' then return {'not_sent_yet', left} end
if state ~= 'sent' then return {state, left} end  -- failed, expired, locked, canceled

local now = now_ms()
if now >= (tonumber(fields[2]) or 0) then
  set_state(r, 'expired', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'expired')
  return {'expired', left}
end
if left <= 0 then
  set_state(r, 'locked', now)
  return {'locked', 0}
end

if fields[4] and ct_equal(fields[4], ARGV[1]) then
  set_state(r, 'verified', now)
  redis.call('HSET', r, 'verified_at', now)
  redis.call('HDEL', r, 'code_hmac')  -- single use
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'verified')
  return {'ok', left}
end

left = left - 1
redis.call('HSET', r, 'attempts_left', left, 'updated_at', now)
if left <= 0 then
  set_state(r, 'locked', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'locked')
  return {'locked', 0}
end
return {'wrong', left}
