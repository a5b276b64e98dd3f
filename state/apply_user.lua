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
-- KEYS: per user, its hash, its history list, its erasure fence and its followee
--   set (same hash tag)
-- ARGV[1]: TTL in seconds; ARGV[2]: most items a history keeps
-- ARGV[2 + u]: user u's values: their count and then each one's length
--   (4-byte little-endian unsigned each), then the values back to back:
--   last_topic, last_partition, last_offset as read ("" each when the
--   user did not exist), the erasure fence as read ("" when none), then the values of FIELDS below in that order, then
--   the follow values (see follow below), then
--   the item ids to append to the history, oldest first; OPTIONAL fields are
--   not written when their value is empty
-- Returns per user 1 when written, 0 on a conflict (re-read and retry).
local FIELDS = {'last_topic', 'last_partition', 'last_offset', 'short_term', 'last_event_ts',
                'events_applied', 'recent_items', 'model_version', 'recommendations',
                'updated_at', 'mix_offset', 'mix_weight', 'shift_state',
                'long_term_state', 'long_term_state_version', 'surface_mix', 'social',
                'social_at'}
local OPTIONAL = {long_term_state = true, long_term_state_version = true, surface_mix = true,
                  social = true, social_at = true}
local n = #FIELDS
-- Follows and unfollows (state/followees.py): values[at] counts the follow values
-- after it: the set's bound, then per event its kind ('+' or '-'), the target and
-- the follow time (the score; the oldest go past the bound). The set's TTL is the
-- user's, renewed when it changes or the worker refreshes the user's social vector
-- (then the bound comes without ops); count 0 leaves it alone. Returns where the
-- history items start.
local function follow(set, values, at, ttl)
  local count = tonumber(values[at])
  if count > 0 then
    for i = at + 2, at + count, 3 do
      if values[i] == '+' then
        redis.call('ZADD', set, values[i + 2], values[i + 1])
      else
        redis.call('ZREM', set, values[i + 1])
      end
    end
    redis.call('ZREMRANGEBYRANK', set, 0, -tonumber(values[at + 1]) - 1)
    redis.call('EXPIRE', set, ttl)
  end
  return at + count + 1
end
local ttl = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local out = {}
for u = 1, #KEYS / 4 do
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
  local hash, history = KEYS[4 * u - 3], KEYS[4 * u - 2]
  local stamp = redis.call('HMGET', hash, 'last_topic', 'last_partition', 'last_offset')
  stamp[4] = redis.call('GET', KEYS[4 * u - 1])
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
    local first = follow(KEYS[4 * u], values, 5 + n, ttl)
    if #values >= first then
      redis.call('RPUSH', history, unpack(values, first))
      redis.call('LTRIM', history, -keep, -1)
      redis.call('EXPIRE', history, ttl)
    end
  end
  out[u] = ok
end
return out
