-- Erase a user: delete every key held on them and store their erasure fence
-- (state/erasure.py: a unique id and the events topic's end offsets) for
-- ARGV[1] seconds, in one step. A write computed from a read made before
-- this call can no longer commit (apply_user.lua compares the fence with the
-- one its read saw), workers skip the events the fence covers, and the
-- trainer's publish skips the user while the fence lives.
-- KEYS[1]: the fence; KEYS[2..]: the user's keys to delete.
-- ARGV[1]: the fence's TTL in seconds; ARGV[2]: the fence.
-- Returns how many of the user's keys existed.
local held = redis.call('DEL', unpack(KEYS, 2))
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[1]))
return held
