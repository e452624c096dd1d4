-- request_code: idempotency, deny list, every limit, step-up captcha, pumping, the new record.
-- All in one atomic step, so parallel requests cannot slip between a check and its counter.
-- KEYS: 1 record, 2 history, 3 idempotency key, 4 deny set, 5 prefix sends, 6 prefix
--       verifications, 7 prefix pumping flag, 8 stats bucket, 9.. one log per limit bucket
-- ARGV: 1 config (JSON, see worker/otp.py), then per bucket: window ms, limit, name
-- Returns {'ok', id, pumping flagged now (0/1)} | {'existing', id} | {'blocked', prefix}
--       | {'limited', retry_after_ms, bucket} | {'captcha_required', why} | {'refused', why}
local cfg = cjson.decode(ARGV[1])
local now = now_ms()
local id = cfg.id

if cfg.idempotency then
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', cfg.record_prefix .. existing) == 1 then
    return {'existing', existing}
  end
end

-- Operator's deny list: the number itself or any of its prefixes.
for i = 3, #cfg.phone do
  local candidate = string.sub(cfg.phone, 1, i)
  if redis.call('SISMEMBER', KEYS[4], candidate) == 1 then return {'blocked', candidate} end
end

local n = #KEYS - 8
local retry_after, fired = buckets_full(KEYS, 8, n, 2, now)
if retry_after then return {'limited', retry_after, fired} end

-- Step-up: unusual volume from this IP or prefix, or suspected pumping, wants a captcha.
local function bucket_count(index)
  if not index then return 0 end
  return redis.call('ZCARD', KEYS[8 + index])
end
local suspicion = nil
if redis.call('EXISTS', KEYS[7]) == 1 then
  suspicion = 'pumping'
elseif cfg.step_up then
  if cfg.ip_bucket and bucket_count(cfg.ip_bucket) >= cfg.step_up_ip then
    suspicion = 'ip_volume'
  elseif cfg.prefix_bucket and bucket_count(cfg.prefix_bucket) >= cfg.step_up_prefix then
    suspicion = 'prefix_volume'
  end
end
if suspicion and not cfg.captcha_passed then
  if suspicion == 'pumping' and cfg.pumping_refuse then return {'refused', 'pumping'} end
  return {'captcha_required', suspicion}
end

buckets_take(KEYS, 8, n, 2, now, id)

redis.call('HSET', KEYS[1],
  'state', 'queued', 'phone', cfg.phone, 'created_at', now, 'updated_at', now,
  'requested_at', now, 'send_deadline', now + cfg.send_window_ms,
  'attempts_left', cfg.max_attempts, 'sends', 1, 'compares', 0)
for field, value in pairs(cfg.extra) do redis.call('HSET', KEYS[1], field, value) end
redis.call('PEXPIRE', KEYS[1], cfg.record_ttl_ms)
if cfg.idempotency then
  redis.call('SET', KEYS[3], id, 'PX', cfg.idempotency_ttl_ms)
end
record_event(KEYS[1], KEYS[2], cfg.channel, id, 'queued')

-- Conversion per prefix over a sliding window: pumped numbers never verify.
local window = cfg.pumping_window_ms
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - window)
redis.call('ZADD', KEYS[5], now, id)
redis.call('PEXPIRE', KEYS[5], window)
local sends = redis.call('ZCARD', KEYS[5])
local verified = redis.call('ZCARD', KEYS[6])
local flagged = 0
if sends >= cfg.pumping_min_sends and verified < sends * cfg.pumping_min_conversion
   and redis.call('EXISTS', KEYS[7]) == 0 then
  redis.call('SET', KEYS[7], now, 'PX', cfg.pumping_cooloff_ms)
  flagged = 1
end

redis.call('HINCRBY', KEYS[8], 'sent', 1)
redis.call('HINCRBY', KEYS[8], 'sent:' .. cfg.extra.region, 1)
redis.call('PEXPIRE', KEYS[8], cfg.stats_ttl_ms)
return {'ok', id, flagged}
