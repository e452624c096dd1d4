-- poll: lease the due verifications (so parallel pollers do not ask for the same ids). The
-- caller read the candidates (ZRANGEBYSCORE) and passes their record keys; each is checked
-- again here, since another poller may have leased it in between.
-- KEYS: 1 poll set, 2.. one record per candidate   ARGV: 1 JSON {ids, lease_ms}
-- Answers {leased = {{id, id_sms}, ...}}
local now = now_ms()
local leased = {}
for i, id in ipairs(a.ids) do
  local due = tonumber(redis.call('ZSCORE', KEYS[1], id) or '')
  if due and due <= now then
    local id_sms = redis.call('HGET', KEYS[1 + i], 'id_sms')
    if id_sms then
      redis.call('ZADD', KEYS[1], now + a.lease_ms, id)
      leased[#leased + 1] = {id, id_sms}
    else
      redis.call('ZREM', KEYS[1], id)  -- record gone or resent: nothing to follow
    end
  end
end
return reply({leased = leased})
