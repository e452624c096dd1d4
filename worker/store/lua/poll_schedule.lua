-- poll: make sure exactly one poll task is queued for the earliest due id (see schedule_poll).
-- KEYS: 1 poll set, 2 schedule marker
-- ARGV: 1 JSON {slack_ms, grace_ms, clear (marker value to clear first, '' for none), batch}
-- Answers {due_ms, delay_ms} (due_ms 0: nothing to queue)
local due, delay = schedule_poll(KEYS[1], KEYS[2], a.slack_ms, a.grace_ms, a.clear, a.batch)
if not due then return reply({due_ms = 0, delay_ms = 0}) end
return reply({due_ms = due, delay_ms = delay})
