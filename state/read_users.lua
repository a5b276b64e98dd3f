-- Read the same fields of many users' hashes in one command, and each user's
-- erasure fence (the write script refuses a write whose fence moved since).
-- KEYS: per user, its hash then its erasure fence; ARGV: the field names.
-- Returns per user the values (nil where absent), in the order of ARGV, then
-- the fence's value (nil when the user was not erased within the fence's TTL).
local out = {}
for u = 1, #KEYS / 2 do
  local row = redis.call('HMGET', KEYS[2 * u - 1], unpack(ARGV))
  row[#ARGV + 1] = redis.call('GET', KEYS[2 * u])
  out[u] = row
end
return out
