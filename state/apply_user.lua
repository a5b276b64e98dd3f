-- Write a user's new state and its last applied (partition, offset) at once,
-- only if nobody else wrote the user since it was read (compare-and-set).
-- KEYS[1]: the user hash
-- ARGV[1]: last_partition as read ("" when the user did not exist)
-- ARGV[2]: last_offset as read ("" when the user did not exist)
-- ARGV[3]: TTL in seconds
-- ARGV[4..]: field, value, field, value, ...
-- Returns 1 when written, 0 on a conflict (re-read and retry).
local partition = redis.call('HGET', KEYS[1], 'last_partition') or ''
local offset = redis.call('HGET', KEYS[1], 'last_offset') or ''
if partition ~= ARGV[1] or offset ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
