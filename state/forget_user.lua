-- Erase a user: delete every key held on them and move their erasure fence
-- (a counter that expires after ARGV[1] seconds) in one step, so a write
-- based on state read before this call can no longer commit (apply_user.lua
-- compares the fence with the value its read saw) and the trainer's publish
-- skips the user while the fence lives.
-- KEYS[1]: the fence; KEYS[2..]: the user's keys to delete. ARGV[1]: fence TTL.
-- Returns how many of the user's keys existed.
local held = redis.call('DEL', unpack(KEYS, 2))
redis.call('INCRBY', KEYS[1], 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return held
