-- request_code: idempotency, then the SMS gate (deny list, every limit, step-up captcha,
-- pumping), then the new record. One atomic step, so parallel requests cannot slip between a
-- check and its counter.
-- KEYS: 1 record, 2 history, 3 idempotency key, 4..9 the gate's keys (see admit_sms),
--       10.. one log per limit, then the pending sends, last the
--       count of send messages published
-- ARGV: 1 JSON {id, channel, record_ttl_ms, send_window_ms, max_attempts, idempotency_ttl_ms
--       (0: no key), pending_grace_ms (when the sweep may enqueue the send again), fields (stored on the record; `site`, the owning API key, is counted), gate}
-- Answers {outcome = 'created', flagged} | {outcome = 'existing', id}
--       | {outcome = 'refused', code, why, retry_after_ms}
local now = now_ms()

-- The idempotency key is scoped by phone (its name is a digest of both), and it never outlives
-- the record it points at: an existing key always names a live verification of this phone.
if a.idempotency_ttl_ms > 0 then
  local existing = redis.call('GET', KEYS[3])
  if existing then
    count_site(a.fields.site, KEYS[8], KEYS[9], 'replayed', a.gate.stats_ttl_ms)
    return reply({outcome = 'existing', id = existing})
  end
end

local refusal, flagged = admit_sms(4, a.gate, now)
if refusal then
  refusal.outcome = 'refused'
  return reply(refusal)
end

local r = KEYS[1]
redis.call('HSET', r,
  'state', 'queued', 'phone', a.gate.phone, 'region', a.gate.region, 'created_at', now,
  'updated_at', now, 'requested_at', now, 'send_deadline', now + a.send_window_ms,
  'attempts_left', a.max_attempts, 'sends', 1, 'compares', 0)
for field, value in pairs(a.fields) do redis.call('HSET', r, field, value) end
redis.call('PEXPIRE', r, a.record_ttl_ms)
if a.idempotency_ttl_ms > 0 then
  redis.call('SET', KEYS[3], a.id, 'PX', a.idempotency_ttl_ms)
end
note_pending_send(r, KEYS[#KEYS - 1], KEYS[#KEYS], a.id, now + a.pending_grace_ms,
  a.record_ttl_ms)
record_event(r, KEYS[2], a.channel, a.id, 'queued')
count_site(a.fields.site, KEYS[8], KEYS[9], 'created', a.gate.stats_ttl_ms)
return reply({outcome = 'created', flagged = flagged})
