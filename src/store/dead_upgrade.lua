-- Moves letters of the older layout (KEYS[1], a list, oldest first) under the ids given in
-- ARGV (one each, in time order) into KEYS[2] (ids) and KEYS[3] (letters), in one step.
-- Answers how many moved.
local items = redis.call('LRANGE', KEYS[1], 0, #ARGV - 1)
for i, item in ipairs(items) do
  redis.call('HSET', KEYS[3], ARGV[i], item)
  redis.call('ZADD', KEYS[2], 0, ARGV[i])
end
if #items > 0 then redis.call('LTRIM', KEYS[1], #items, -1) end
return #items
