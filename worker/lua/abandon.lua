-- request_code could not enqueue (broker down): undo the record and give the limits back,
-- so the caller may simply try again.
-- KEYS: 1 record, 2 history, 3 idempotency key, 4.. limit buckets   ARGV: 1 id
for i = 4, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
