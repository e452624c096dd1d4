-- api_key_auth: the API key a bearer digest names, and the owner of a verification, in one step.
-- KEYS: 1 the digest's name (akd:<digest>), 2 a verification's record (or the unused key)
-- ARGV: 1 JSON {prefix, owner_field}. The key's own hash is ak:<name> under the same prefix
-- (keys.py: api_key, with the store's hash tag on a cluster, so it shares the slot), read here
-- because its name is what KEYS[1] holds: the one key a step reaches that KEYS does not name.
-- Answers {name, fields, owner} (name and fields absent for an unknown digest)
local name = redis.call('GET', KEYS[1])
if not name then return reply({}) end
local flat = redis.call('HGETALL', a.prefix .. 'ak:' .. name)
local fields = {}
for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
local owner = redis.call('HGET', KEYS[2], a.owner_field)
return reply({name = name, fields = fields, owner = owner or nil})
