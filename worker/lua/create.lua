-- request_code: idempotency, every limit bucket and the new record, in one atomic step.
-- KEYS: 1 record, 2 history, 3 idempotency key, 4.. one sliding-window log per limit bucket
-- ARGV: 1 id, 2 phone, 3 record ttl ms, 4 send window ms, 5 max attempts, 6 use idempotency (0/1),
--       7 idempotency ttl ms, 8 channel, 9 record key prefix, 10 number of buckets, then per
--       bucket: window ms, limit, name; then pairs of extra record fields.
-- Returns {'ok', id} | {'existing', id} | {'limited', retry_after_ms, bucket name}
local now = now_ms()
local id = ARGV[1]

if ARGV[6] == '1' then
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', ARGV[9] .. existing) == 1 then
    return {'existing', existing}
  end
end

local n = tonumber(ARGV[10])
local retry_after, fired = buckets_full(KEYS, 3, n, 11, now)
if retry_after then
  return {'limited', retry_after, fired}
end
buckets_take(KEYS, 3, n, 11, now, id)

redis.call('HSET', KEYS[1],
  'state', 'queued', 'phone', ARGV[2], 'created_at', now, 'updated_at', now,
  'requested_at', now, 'send_deadline', now + tonumber(ARGV[4]),
  'attempts_left', ARGV[5], 'sends', 1)
for i = 11 + n * 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], id, 'PX', tonumber(ARGV[7]))
end
record_event(KEYS[1], KEYS[2], ARGV[8], id, 'queued')
return {'ok', id}
