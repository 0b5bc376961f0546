-- redis-list's append (included by redis_once.lua): pushes the event's JSON, ARGV[1] being lpush or rpush.
local function append(key, push, a)
  redis.call(push, key, ARGV[a + 1])
end
