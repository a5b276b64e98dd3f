-- Write a batch of users: for each, its new state and its last applied
-- (topic, partition, offset) at once, only if nobody else wrote the user
-- since it was read (compare-and-set on that stamp), and append the new
-- items to the user's bounded history (the long-term trainer's input).
-- One call per batch: packing one command per user cost the worker more
-- than the whole fold (a Redis Cluster would need one call per user: the
-- keys of different users live in different slots).
-- An erased user is fenced: the write also compares the user's erasure fence
-- (see forget_user.lua) with the value the read saw, so a write computed from
-- state read before an erasure is refused (the worker re-reads: it finds no
-- user and the new fence, and writes a new user from its events).
-- KEYS: per user, its hash, its history list and its erasure fence (same hash tag)
-- ARGV[1]: TTL in seconds; ARGV[2]: most items a history keeps
-- ARGV[2 + u]: user u's values: their count and then each one's length
--   (4-byte little-endian unsigned each), then the values back to back:
--   last_topic, last_partition, last_offset as read ("" each when the
--   user did not exist), the erasure fence as read ("" when none), then the values of FIELDS below in that order, then
--   the item ids to append to the history, oldest first; OPTIONAL fields are
--   not written when their value is empty
-- Returns per user 1 when written, 0 on a conflict (re-read and retry).
local FIELDS = {'last_topic', 'last_partition', 'last_offset', 'short_term', 'last_event_ts',
                'events_applied', 'recent_items', 'model_version', 'recommendations',
                'updated_at', 'mix_offset', 'mix_weight', 'shift_state',
                'long_term_state', 'long_term_state_version', 'surface_mix'}
local OPTIONAL = {long_term_state = true, long_term_state_version = true, surface_mix = true}
local n = #FIELDS
local ttl = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local out = {}
for u = 1, #KEYS / 3 do
  local blob = ARGV[2 + u]
  local count = struct.unpack('<I4', blob, 1)
  local lengths, values, pos = {}, {}, 5
  for i = 1, count do
    lengths[i] = struct.unpack('<I4', blob, pos)
    pos = pos + 4
  end
  for i = 1, count do
    values[i] = string.sub(blob, pos, pos + lengths[i] - 1)
    pos = pos + lengths[i]
  end
  local hash, history = KEYS[3 * u - 2], KEYS[3 * u - 1]
  local stamp = redis.call('HMGET', hash, 'last_topic', 'last_partition', 'last_offset')
  stamp[4] = redis.call('GET', KEYS[3 * u])
  local ok = 1
  for i = 1, 4 do
    if (stamp[i] or '') ~= values[i] then
      ok = 0
    end
  end
  if ok == 1 then
    local args = {}
    for i, name in ipairs(FIELDS) do
      local value = values[4 + i]
      if not (OPTIONAL[name] and value == '') then
        args[#args + 1] = name
        args[#args + 1] = value
      end
    end
    redis.call('HSET', hash, unpack(args))
    redis.call('EXPIRE', hash, ttl)
    if #values > 4 + n then
      redis.call('RPUSH', history, unpack(values, 5 + n))
      redis.call('LTRIM', history, -keep, -1)
      redis.call('EXPIRE', history, ttl)
    end
  end
  out[u] = ok
end
return out
