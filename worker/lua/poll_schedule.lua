-- poll: make sure exactly one poll task is queued for the earliest due id (see schedule_poll).
-- KEYS: 1 poll set, 2 schedule marker
-- ARGV: 1 slack ms, 2 grace ms, 3 marker value to clear first ('' for none), 4 batch size
-- Returns {0} (nothing to queue) | {1, due ms, delay ms}
local due, delay = schedule_poll(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]),
  ARGV[3], tonumber(ARGV[4]))
if not due then return {0} end
return {1, due, delay}
