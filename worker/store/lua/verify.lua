-- verify_code: every outcome decided in one atomic step, the code compared in constant time.
-- Wrong codes also count per phone and requesting IP (across verifications) and per verifying
-- IP, so rotating verifications does not multiply guesses; those windows end by themselves.
-- KEYS: 1 record, 2 history, 3 wrong-code log of the phone and the IP that requested it,
--       4 wrong-code log of the verifying IP, 5 the prefix's verifications (pumping watch),
--       6 stats bucket, 7 totals
-- ARGV: 1 JSON {candidates (HMAC hex of the typed code under each key that may have stored
--       it: the current one, the previous ones while a key rotates), id, channel, window_ms,
--       phone_limit, ip_limit, has_ip, pumping_window_ms, stats_ttl_ms}
-- Answers {reason, left, retry_after_ms, phone}: phone (the record's E.164) only when ok, so
-- the caller learns which number the code proved in the same atomic step that used it up.
local function ct_equal(x, y)
  if #x ~= #y then return false end
  local acc = 0
  for i = 1, #x do
    acc = bit.bor(acc, bit.bxor(string.byte(x, i), string.byte(y, i)))
  end
  return acc == 0
end

local r = KEYS[1]
local site = redis.call('HGET', r, 'site')  -- the owning API key, counted per outcome
local function answer(reason, left, wait, phone)
  count(KEYS[7], 'verify:' .. reason, 1)
  count_site(site, KEYS[6], KEYS[7], 'verify:' .. reason, a.stats_ttl_ms)
  return reply({reason = reason, left = left, retry_after_ms = wait or 0, phone = phone})
end

local f = redis.call('HMGET', r, 'state', 'expires_at', 'attempts_left', 'code_hmac', 'region',
  'phone')
local state = f[1]
if not state then return answer('unknown', 0) end
local left = tonumber(f[3]) or 0
if state == 'verified' then return answer('already_used', left) end
if state == 'queued' or state == 'sending' then return answer('not_sent_yet', left) end
if state ~= 'sent' then return answer(state, left) end  -- failed, expired, locked, canceled

local now = now_ms()
if now >= (tonumber(f[2]) or 0) then
  set_state(r, 'expired', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], a.channel, a.id, 'expired')
  return answer('expired', left)
end

-- Guessing budgets across verifications: refuse before comparing anything.
local logs = {}
if a.phone_limit > 0 then logs[#logs + 1] = {KEYS[3], a.phone_limit} end
if a.has_ip and a.ip_limit > 0 then logs[#logs + 1] = {KEYS[4], a.ip_limit} end
local wait = 0
for _, log in ipairs(logs) do
  wait = math.max(wait, window_wait(log[1], a.window_ms, log[2], now))
end
if wait > 0 then return answer('rate_limited', left, wait) end

redis.call('HINCRBY', r, 'compares', 1)
local matched = false
for _, candidate in ipairs(f[4] and a.candidates or {}) do
  matched = ct_equal(f[4], candidate) or matched  -- every candidate compared: no early exit
end
if matched then
  set_state(r, 'verified', now)
  redis.call('HSET', r, 'verified_at', now)
  redis.call('HDEL', r, 'code_hmac')  -- single use
  record_event(r, KEYS[2], a.channel, a.id, 'verified')
  window_add(KEYS[5], a.pumping_window_ms, a.id, now)
  stat(KEYS[6], 'verified', 1, a.stats_ttl_ms)
  stat(KEYS[6], 'verified:' .. (f[5] or 'ZZ'), 1, a.stats_ttl_ms)
  return answer('ok', left, 0, f[6])
end

for _, log in ipairs(logs) do
  window_add(log[1], a.window_ms, a.id .. ':' .. now .. ':' .. left, now)
end
left = left - 1
redis.call('HSET', r, 'attempts_left', left, 'updated_at', now)
if left <= 0 then
  set_state(r, 'locked', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], a.channel, a.id, 'locked')
  return answer('locked', 0)
end
return answer('wrong', left)
