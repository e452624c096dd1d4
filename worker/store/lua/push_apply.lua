-- push: statuses the platform POSTed, applied exactly as a poll's are (apply_status). A final
-- status stops polling; a pending one leaves the poll schedule alone. A record that has moved
-- on to another id_sms (resent) or is gone ignores the push.
-- KEYS: 1 poll set, 2 totals, then per state: record, history
-- ARGV: 1 JSON {channel, final, known (statuses), states = {{id, id_sms, status, raw}, ...}}
-- Answers {changed (statuses that changed a record), stale (states ignored)}
local now = now_ms()
local st = {final = status_set(a.final), known = status_set(a.known)}
local changed, stale = 0, 0
for i, s in ipairs(a.states) do
  local applied = apply_status(KEYS[1 + 2 * i], KEYS[2 + 2 * i], KEYS[1], KEYS[2], a.channel,
    s[1], s[2], s[3], s[4], st, now)
  if not applied then
    stale = stale + 1
  elseif applied.changed then
    changed = changed + 1
  end
end
return reply({changed = changed, stale = stale})
