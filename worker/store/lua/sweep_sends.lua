-- sweep: sends whose task message may have been lost (a failover dropped it, or kombu's
-- unacked copy). The caller read the due candidates (ZRANGEBYSCORE) and passes their record
-- keys; each is checked again here, since another sweeper may have taken it in between.
-- A taken id is due again only after another grace, so two sweepers never enqueue it twice
-- within one; a second message is harmless anyway (claim_send and the send lock).
-- KEYS: 1 pending sends, 2.. one record per candidate   ARGV: 1 JSON {ids, grace_ms}
-- Answers {ids = {id, ...} (to enqueue again), dropped (ids with nothing left to send)}
local now = now_ms()
local ids, dropped = {}, 0
for i, id in ipairs(a.ids) do
  local due = tonumber(redis.call('ZSCORE', KEYS[1], id) or '')
  if due and due <= now then
    local state = redis.call('HGET', KEYS[1 + i], 'state')
    if state == 'queued' or state == 'sending' then
      redis.call('ZADD', KEYS[1], now + a.grace_ms, id)
      ids[#ids + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)  -- record gone or final: nothing to send
      dropped = dropped + 1
    end
  end
end
return reply({ids = ids, dropped = dropped})
