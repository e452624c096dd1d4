-- verify_code: every outcome decided in one atomic step, the code compared in constant time.
-- Wrong codes also count per phone (across verifications) and per client IP, so rotating
-- verifications does not multiply guesses; those windows end by themselves.
-- KEYS: 1 record, 2 history, 3 IP wrong-code log (unused without an IP), 4 stats bucket,
--       5 totals (every outcome counts once there as verify:<reason>)
-- ARGV: 1 candidate HMAC (hex), 2 channel, 3 id, 4 config (JSON: key_prefix, window_ms,
--       phone_limit, ip_limit, has_ip, pumping_window_ms, stats_ttl_ms)
-- Returns {reason, attempts_left, retry_after_ms}
-- (Keys derived from the record -- the phone's wrong-code log, the prefix's verifications --
-- are named inside the script: fine on one Redis, not on Redis Cluster.)
local function ct_equal(a, b)
  if #a ~= #b then return false end
  local acc = 0
  for i = 1, #a do
    acc = bit.bor(acc, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return acc == 0
end

local function counted(out)
  redis.call('HINCRBY', KEYS[5], 'verify:' .. out[1], 1)
  return out
end

local r = KEYS[1]
local f = redis.call('HMGET', r, 'state', 'expires_at', 'attempts_left', 'code_hmac',
  'phone_key', 'prefix_key', 'region')
local state = f[1]
if not state then return counted({'unknown', 0, 0}) end
local left = tonumber(f[3]) or 0
if state == 'verified' then return counted({'already_used', left, 0}) end
if state == 'queued' or state == 'sending' then return counted({'not_sent_yet', left, 0}) end
if state ~= 'sent' then return counted({state, left, 0}) end  -- failed, expired, locked, canceled

local cfg = cjson.decode(ARGV[4])
local now = now_ms()
if now >= (tonumber(f[2]) or 0) then
  set_state(r, 'expired', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'expired')
  return counted({'expired', left, 0})
end

-- Guessing budgets across verifications: refuse before comparing anything.
local logs = {}
if f[5] and cfg.phone_limit > 0 then
  logs[#logs + 1] = {cfg.key_prefix .. 'rl:verify_phone:' .. f[5], cfg.phone_limit}
end
if cfg.has_ip and cfg.ip_limit > 0 then logs[#logs + 1] = {KEYS[3], cfg.ip_limit} end
local wait = 0
for _, log in ipairs(logs) do
  redis.call('ZREMRANGEBYSCORE', log[1], '-inf', now - cfg.window_ms)
  local count = redis.call('ZCARD', log[1])
  if count >= log[2] then
    local oldest = redis.call('ZRANGE', log[1], count - log[2], count - log[2], 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + cfg.window_ms - now)
  end
end
if wait > 0 then return counted({'rate_limited', left, wait}) end

redis.call('HINCRBY', r, 'compares', 1)
if f[4] and ct_equal(f[4], ARGV[1]) then
  set_state(r, 'verified', now)
  redis.call('HSET', r, 'verified_at', now)
  redis.call('HDEL', r, 'code_hmac')  -- single use
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'verified')
  if f[6] then
    local verified = cfg.key_prefix .. 'pf:' .. f[6] .. ':v'
    redis.call('ZADD', verified, now, ARGV[3])
    redis.call('PEXPIRE', verified, cfg.pumping_window_ms)
  end
  redis.call('HINCRBY', KEYS[4], 'verified', 1)
  redis.call('HINCRBY', KEYS[4], 'verified:' .. (f[7] or 'ZZ'), 1)
  redis.call('PEXPIRE', KEYS[4], cfg.stats_ttl_ms)
  return counted({'ok', left, 0})
end

for _, log in ipairs(logs) do
  redis.call('ZADD', log[1], now, ARGV[3] .. ':' .. now .. ':' .. left)
  redis.call('PEXPIRE', log[1], cfg.window_ms)
end
left = left - 1
redis.call('HSET', r, 'attempts_left', left, 'updated_at', now)
if left <= 0 then
  set_state(r, 'locked', now)
  redis.call('HDEL', r, 'code_hmac')
  record_event(r, KEYS[2], ARGV[2], ARGV[3], 'locked')
  return counted({'locked', 0, 0})
end
return counted({'wrong', left, 0})
