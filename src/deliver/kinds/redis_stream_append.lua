-- redis-stream's append (included by redis_once.lua): XADD of (type, id, JSON), trimmed to ~ARGV[1] entries unless ''.
local function append(key, maxlen, a)
  if maxlen == '' then
    redis.call('XADD', key, '*', 'event_type', ARGV[a + 1], 'event_id', ARGV[a + 2], 'event', ARGV[a + 3])
  else
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'event_type', ARGV[a + 1], 'event_id', ARGV[a + 2], 'event', ARGV[a + 3])
  end
end
