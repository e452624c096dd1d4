-- api_key_update: change fields of an existing API key; a key revoked first stays revoked.
-- KEYS: 1 the key's hash (ak:<name>)   ARGV: 1 JSON {fields = {name = value}}
-- Answers {updated = true|false}
if redis.call('HEXISTS', KEYS[1], 'digest') == 0 then return reply({updated = false}) end
local flat = {}
for field, value in pairs(a.fields) do
  flat[#flat + 1] = field
  flat[#flat + 1] = value
end
if #flat > 0 then redis.call('HSET', KEYS[1], unpack(flat)) end
return reply({updated = true})
