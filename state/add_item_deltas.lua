-- Add workers' learning steps to shared item vectors, so two workers' steps
-- to one item both count (a plain HSET of the whole vector would keep only
-- the last writer's). Every worker sends the sum of its committed steps per
-- item since its last send; this adds it to the stored vector in one step.
-- KEYS[1]: the version's items hash (ie:items:<version>).
-- ARGV[1]: the dimension; then per item: its id, its step (float32 LE, the
-- sum of the worker's deltas), and the worker's whole vector now (float32
-- LE), stored when the hash has no vector of that size for the item yet.
-- Returns the number of items whose stored vector was stepped.
local dim = tonumber(ARGV[1])
local fmt = '<' .. string.rep('f', dim)
local bytes = 4 * dim
local stepped = 0
for i = 2, #ARGV, 3 do
  local item, step, whole = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local stored = redis.call('HGET', KEYS[1], item)
  if stored and #stored == bytes and #step == bytes then
    local a = {struct.unpack(fmt, stored)}
    local d = {struct.unpack(fmt, step)}
    for j = 1, dim do
      a[j] = a[j] + d[j]
    end
    redis.call('HSET', KEYS[1], item, struct.pack(fmt, unpack(a, 1, dim)))
    stepped = stepped + 1
  else
    redis.call('HSET', KEYS[1], item, whole)
  end
end
return stepped
