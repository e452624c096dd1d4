-- resend: a new gateway call means a new code, so the old one stops working here, at once.
-- The SMS passes the same gate as a first request (admit_sms): limits, deny list, step-up,
-- pumping, statistics.
-- KEYS: 1 record, 2 history, 3 poll set, 4..9 the gate's keys, 10.. one log per limit,
--       then the pending sends, last the count of send messages published
-- ARGV: 1 JSON {id, channel, send_window_ms, max_attempts, max_sends, record_ttl_ms, sends
--       (the count the caller read: the gate's member was built from it), pending_grace_ms, gate}
-- Answers {outcome = 'resent'|'in_flight'|'missing'|'changed'} | {outcome = 'not_allowed', state}
--       | {outcome = 'refused', code, why, retry_after_ms}
local r = KEYS[1]
local f = redis.call('HMGET', r, 'state', 'sends', 'send_deadline', 'site')
local function count_own(outcome)  -- for the owning API key (the gate's stats and totals)
  count_site(f[4], KEYS[8], KEYS[9], outcome, a.gate.stats_ttl_ms)
end
local state = f[1]
if not state then return reply({outcome = 'missing'}) end
local now = now_ms()
-- A send still within its deadline is in flight; past it, it was lost (e.g. never queued
-- because the broker was down) and may be sent again.
if (state == 'queued' or state == 'sending') and now < (tonumber(f[3]) or 0) then
  count_own('resend_in_flight')
  return reply({outcome = 'in_flight'})
end
if state == 'verified' or state == 'canceled' or state == 'locked' then
  return reply({outcome = 'not_allowed', state = state})
end
local sends = tonumber(f[2]) or 0
if sends ~= a.sends then  -- a parallel resend won
  count_own('resend_in_flight')
  return reply({outcome = 'changed'})
end
if sends >= a.max_sends then
  return reply({outcome = 'refused', code = 'rate_limited', why = 'sends_per_verification',
    retry_after_ms = math.max(redis.call('PTTL', r), 1)})
end
local refusal = admit_sms(4, a.gate, now)
if refusal then
  refusal.outcome = 'refused'
  return reply(refusal)
end

redis.call('HDEL', r, 'code_hmac', 'id_sms', 'delivery_status', 'expires_at', 'error_code',
  'error_message', 'sent_at', 'claim')
redis.call('HSET', r, 'state', 'queued', 'updated_at', now, 'requested_at', now,
  'send_deadline', now + a.send_window_ms, 'attempts_left', a.max_attempts, 'sends', sends + 1)
redis.call('PEXPIRE', r, a.record_ttl_ms)
redis.call('ZREM', KEYS[3], a.id)
note_pending_send(r, KEYS[#KEYS - 1], KEYS[#KEYS], a.id, now + a.pending_grace_ms,
  a.record_ttl_ms)
record_event(r, KEYS[2], a.channel, a.id, 'resend')
count_own('resent')
return reply({outcome = 'resent'})
