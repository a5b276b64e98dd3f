-- Age out item state nobody uses: vectors of items no event named for the
-- TTL (from the online item table), and catalogue entries of items marked
-- unavailable longer than the TTL (with their vector and unavailable flag).
-- KEYS[1]: last-seen zset (item id -> epoch seconds), KEYS[2]: the online item
-- vectors (hash), KEYS[3]: marked-unavailable zset (item id -> epoch seconds),
-- KEYS[4]: catalogue (hash), KEYS[5]: unavailable ids (set)
-- ARGV[1]: cut-off (epoch seconds): older goes; ARGV[2]: most ids per kind per call
-- Returns {items aged out, catalogue entries aged out}.
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #old > 0 then
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[1], unpack(old))
end
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])
if #gone > 0 then
  redis.call('HDEL', KEYS[4], unpack(gone))
  redis.call('HDEL', KEYS[2], unpack(gone))
  redis.call('SREM', KEYS[5], unpack(gone))
  redis.call('ZREM', KEYS[3], unpack(gone))
end
return {#old, #gone}
