-- send_code, step 2 (success): keep only the code's HMAC, start its TTL, queue the first poll.
-- Only the latest claimant stores: a send whose claim was taken over by another worker must
-- never store over, or beside, the newer send.
-- KEYS: 1 record, 2 history, 3 lock, 4 poll set, 5 poll schedule marker, 6 totals,
--       7 the id_sms index (pushed statuses name only the id_sms)
-- ARGV: 1 JSON {token, code_hmac, id_sms, status, ttl_ms, first_poll_ms (0: nothing to poll),
--       channel, id, max_attempts, poll_ttl_ms, poll_slack_ms, poll_grace_ms, poll_batch,
--       timings (the send's gateway requests, see count_timings), test_number (a fixed code,
--       no SMS: counted as test_number_sends, not as an SMS sent or delivered)}
-- Answers {outcome = 'sent', due_ms, delay_ms} (0, 0: no poll task to queue)
--       | {outcome = 'discarded', state}
local r = KEYS[1]
count_timings(KEYS[6], a.timings)  -- whatever happens to the outcome
local ends, state = claimant_ends_send(r, KEYS[3], a.token)
if not ends then return reply({outcome = 'discarded', state = state}) end
local now = now_ms()
redis.call('HSET', r, 'state', 'sent', 'updated_at', now, 'code_hmac', a.code_hmac,
  'id_sms', a.id_sms, 'delivery_status', a.status, 'sent_at', now,
  'expires_at', now + a.ttl_ms, 'attempts_left', a.max_attempts, 'polls', 0)
redis.call('HDEL', r, 'error_code', 'error_message', 'claim')
redis.call('SET', KEYS[7], a.id, 'PX', math.max(redis.call('PTTL', r), a.poll_ttl_ms))
if a.test_number then
  count(KEYS[6], 'test_number_sends', 1)
else
  count(KEYS[6], 'sms_sent', 1)
  count(KEYS[6], 'delivery:' .. a.status, 1)
end
record_event(r, KEYS[2], a.channel, a.id, 'sent', {delivery_status = a.status})
if a.first_poll_ms > 0 then
  redis.call('ZADD', KEYS[4], now + a.first_poll_ms, a.id)
  if redis.call('PTTL', KEYS[4]) < a.poll_ttl_ms then
    redis.call('PEXPIRE', KEYS[4], a.poll_ttl_ms)
  end
  local due, delay = schedule_poll(KEYS[4], KEYS[5], a.poll_slack_ms, a.poll_grace_ms, '',
    a.poll_batch)
  if due then return reply({outcome = 'sent', due_ms = due, delay_ms = delay}) end
end
return reply({outcome = 'sent', due_ms = 0, delay_ms = 0})
