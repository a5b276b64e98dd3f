-- The trainer's long-term fields of many users, each written only when the
-- user has no erasure fence: a user forgotten after the trainer read their
-- history is not written back (checked and written in one step).
-- KEYS: per user, its hash then its erasure fence.
-- ARGV[1]: the hash's TTL in seconds; ARGV[2]: the model version;
-- ARGV[1 + 2u], ARGV[2 + 2u]: user u's long-term vector and GRU state
-- ("" when there is no state: only long_term is written).
-- Returns the number of users written.
local ttl, version = tonumber(ARGV[1]), ARGV[2]
local written = 0
for u = 1, #KEYS / 2 do
  local hash = KEYS[2 * u - 1]
  if redis.call('EXISTS', KEYS[2 * u]) == 0 then
    local vector, state = ARGV[1 + 2 * u], ARGV[2 + 2 * u]
    if state == '' then
      redis.call('HSET', hash, 'long_term', vector, 'long_term_version', version)
    else
      redis.call('HSET', hash, 'long_term', vector, 'long_term_version', version,
                 'long_term_state', state, 'long_term_state_version', version)
    end
    redis.call('EXPIRE', hash, ttl)
    written = written + 1
  end
end
return written
