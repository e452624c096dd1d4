-- send_code, step 2 (failure): keep the stable error code and the gateway's own (redacted)
-- text. Only the latest claimant may end the send.
-- KEYS: 1 record, 2 history, 3 lock, 4 totals
-- ARGV: 1 JSON {token, error_code, message, id_sms, status, channel, id, timings}
-- Answers {outcome = 'failed'} | {outcome = 'discarded', state}
local r = KEYS[1]
count_timings(KEYS[4], a.timings)  -- whatever happens to the outcome
local ends, state = claimant_ends_send(r, KEYS[3], a.token)
if not ends then return reply({outcome = 'discarded', state = state}) end
local now = now_ms()
set_state(r, 'failed', now)
redis.call('HSET', r, 'error_code', a.error_code, 'error_message', a.message)
if a.id_sms ~= '' then redis.call('HSET', r, 'id_sms', a.id_sms) end
if a.status ~= '' then
  redis.call('HSET', r, 'delivery_status', a.status)
  count(KEYS[4], 'delivery:' .. a.status, 1)
end
redis.call('HDEL', r, 'code_hmac', 'claim')
count(KEYS[4], 'sms_failed:' .. a.error_code, 1)
record_event(r, KEYS[2], a.channel, a.id, 'failed', {error = a.error_code})
return reply({outcome = 'failed'})
