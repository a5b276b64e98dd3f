-- Record the broker's id of a topic's current incarnation and count
-- incarnations: a new id (the topic was deleted and created again, its
-- offsets restarted at 0) starts the next epoch. The first id seen is epoch 0.
-- KEYS[1]: the topic's epoch hash (fields id, epoch); ARGV[1]: the topic id.
-- Returns the topic's epoch after this call.
local id = redis.call('HGET', KEYS[1], 'id')
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if id ~= ARGV[1] then
  if id then
    epoch = epoch + 1
  end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'epoch', epoch)
end
return epoch
