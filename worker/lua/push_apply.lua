-- push: statuses the platform POSTed, applied exactly as a poll's are (apply_status). A final
-- status stops polling; a pending one leaves the poll schedule alone. A record that has moved
-- on to another id_sms (resent) or is gone ignores the push.
-- KEYS: 1 poll set, then per state: record, history
-- ARGV: 1 channel, 2 final statuses (comma separated), then per state: id, id_sms, status
-- Returns {statuses that changed a record, states ignored as stale}
local now = now_ms()
local final = status_set(ARGV[2])
local changed, stale = 0, 0
for i = 3, #ARGV, 3 do
  local n = (i - 3) / 3
  local applied = apply_status(KEYS[2 + n * 2], KEYS[3 + n * 2], ARGV[1], KEYS[1], ARGV[i],
    ARGV[i + 1], ARGV[i + 2], final, now)
  if not applied then
    stale = stale + 1
  elseif applied.changed then
    changed = changed + 1
  end
end
return {changed, stale}
