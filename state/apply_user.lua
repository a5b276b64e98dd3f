-- Write a user's new state and its last applied (topic, partition, offset)
-- at once, only if nobody else wrote the user since it was read
-- (compare-and-set on that stamp), and append the new items to the user's
-- bounded history (the long-term trainer's input).
-- KEYS[1]: the user hash; KEYS[2]: the user's history list (same hash tag)
-- ARGV[1..3]: last_topic, last_partition, last_offset as read
--             ("" each when the user did not exist)
-- ARGV[4]: TTL in seconds; ARGV[5]: most items the history keeps
-- ARGV[6..]: the values of FIELDS below, in that order (names are not sent:
--            this runs once per user per batch, and packing them costs),
--            then the item ids to append to the history, oldest first;
--            OPTIONAL fields are not written when their value is empty
-- Returns 1 when written, 0 on a conflict (re-read and retry).
local FIELDS = {'last_topic', 'last_partition', 'last_offset', 'short_term', 'last_event_ts',
                'events_applied', 'recent_items', 'model_version', 'recommendations',
                'updated_at', 'mix_offset', 'mix_weight', 'shift_state',
                'long_term_state', 'long_term_state_version'}
local OPTIONAL = {long_term_state = true, long_term_state_version = true}
local stamp = redis.call('HMGET', KEYS[1], 'last_topic', 'last_partition', 'last_offset')
for i = 1, 3 do
  if (stamp[i] or '') ~= ARGV[i] then
    return 0
  end
end
local n = #FIELDS
local values = {}
for i, name in ipairs(FIELDS) do
  local value = ARGV[5 + i]
  if not (OPTIONAL[name] and value == '') then
    values[#values + 1] = name
    values[#values + 1] = value
  end
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], unpack(values))
redis.call('EXPIRE', KEYS[1], ttl)
if #ARGV > 5 + n then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 6 + n))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
