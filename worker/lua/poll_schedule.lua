-- poll: make sure exactly one poll task is queued for the earliest due id.
-- Many sends in the same moment share that one task, hence one `state` request for many ids.
-- KEYS: 1 poll set, 2 schedule marker
-- ARGV: 1 slack ms, 2 grace ms, 3 marker value to clear first ('' for none)
-- Returns {0} (nothing to queue) | {1, due ms, delay ms}
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {0} end
local now = now_ms()
local due = math.max(tonumber(first[2]), now)
local marked = tonumber(redis.call('GET', KEYS[2]) or '')
if marked and marked <= due + tonumber(ARGV[1]) then return {0} end
redis.call('SET', KEYS[2], due, 'PX', due - now + tonumber(ARGV[2]))
return {1, due, due - now}
