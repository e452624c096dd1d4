-- The publish that would send an admitted SMS failed (broker down): give back everything the
-- gate counted for it, so the caller may simply try again and no limit, pumping watch or
-- statistic remembers an SMS that never went out.
-- KEYS: 1 record, 2 history, 3 idempotency key, 4..9 the gate's keys, 10.. one log per limit,
--       last the pending sends (nothing was queued, so nothing is left to sweep)
-- ARGV: 1 JSON {id, gate, resend (bool), channel}
-- A first request's record is removed; a resent one ends failed ('unavailable'): its old code
-- was already dropped, and resend works again once the broker is back.
unadmit_sms(4, a.gate)
redis.call('ZREM', KEYS[#KEYS], a.id)
if a.resend then
  local r = KEYS[1]
  if redis.call('HGET', r, 'state') == 'queued' then
    set_state(r, 'failed', now_ms())
    redis.call('HSET', r, 'error_code', 'unavailable',
      'error_message', 'not sent: the task queue was unavailable')
    redis.call('HINCRBY', r, 'sends', -1)
    record_event(r, KEYS[2], a.channel, a.id, 'failed', {error = 'unavailable'})
  end
else
  if redis.call('GET', KEYS[3]) == a.id then redis.call('DEL', KEYS[3]) end
  redis.call('DEL', KEYS[1], KEYS[2])
end
return reply({outcome = 'abandoned'})
