-- Write a user's new state and its last applied (topic, partition, offset)
-- at once, only if nobody else wrote the user since it was read
-- (compare-and-set on that stamp).
-- KEYS[1]: the user hash
-- ARGV[1..3]: last_topic, last_partition, last_offset as read
--             ("" each when the user did not exist)
-- ARGV[4]: TTL in seconds
-- ARGV[5..]: the values of FIELDS below, in that order (names are not sent:
--            this runs once per user per batch, and packing them costs)
-- Returns 1 when written, 0 on a conflict (re-read and retry).
local FIELDS = {'last_topic', 'last_partition', 'last_offset', 'short_term', 'last_event_ts',
                'events_applied', 'recent_items', 'model_version', 'recommendations', 'updated_at'}
local stamp = redis.call('HMGET', KEYS[1], 'last_topic', 'last_partition', 'last_offset')
for i = 1, 3 do
  if (stamp[i] or '') ~= ARGV[i] then
    return 0
  end
end
local pairs = {}
for i, name in ipairs(FIELDS) do
  pairs[2 * i - 1] = name
  pairs[2 * i] = ARGV[4 + i]
end
redis.call('HSET', KEYS[1], unpack(pairs))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
