-- Read the same fields of many users' hashes in one command.
-- KEYS: the user hashes; ARGV: the field names.
-- Returns per user the values (nil where absent), in the order of ARGV.
local out = {}
for u = 1, #KEYS do
  out[u] = redis.call('HMGET', KEYS[u], unpack(ARGV))
end
return out
