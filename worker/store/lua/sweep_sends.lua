-- sweep: sends whose task message may have been lost (a failover dropped it, or kombu's
-- unacked copy). The caller read the due candidates (ZRANGEBYSCORE) and passes their record
-- keys; each is checked again here, since another sweeper may have taken it in between.
-- A taken id is due again only after another grace, so two sweepers never enqueue it twice
-- within one; a second message is harmless anyway (claim_send and the send lock).
-- A due send whose message may still wait in the queue is postponed, not taken: the queue is
-- first in, first out, so its message is still there while fewer send messages were published
-- after it (the count, less its `send_seq`) than the queue holds (`queued`, read from the
-- broker after the count `published`). It stays due, and the next sweep asks again.
-- KEYS: 1 pending sends, 2 count of send messages published, 3.. one record per candidate
-- ARGV: 1 JSON {ids, grace_ms, queued, published (the count when `queued` was read)}
-- Answers {ids = {id, ...} (to enqueue again), dropped (ids with nothing left to send),
--          postponed (due ids left due: their message may still be queued)}
local now = now_ms()
local published = a.published
local ids, dropped, postponed = {}, 0, 0
for i, id in ipairs(a.ids) do
  local due = tonumber(redis.call('ZSCORE', KEYS[1], id) or '')
  if due and due <= now then
    local f = redis.call('HMGET', KEYS[2 + i], 'state', 'send_seq')
    local seq = tonumber(f[2] or '')
    if f[1] ~= 'queued' and f[1] ~= 'sending' then
      redis.call('ZREM', KEYS[1], id)  -- record gone or final: nothing to send
      dropped = dropped + 1
    elseif seq and published - seq < a.queued then
      postponed = postponed + 1
    else
      redis.call('ZADD', KEYS[1], now + a.grace_ms, id)
      -- the copy goes to the back of the queue: number it as the newest message
      redis.call('HSET', KEYS[2 + i], 'send_seq', redis.call('INCR', KEYS[2]))
      ids[#ids + 1] = id
    end
  end
end
return reply({ids = ids, dropped = dropped, postponed = postponed})
