-- The worker's shared state (shared_state.ts).
-- KEYS: counters, recent events, recent errors, first start, parked deliveries by due time,
-- then the timeline buckets' hashes. ARGV: now (ms), recent items kept, then three groups,
-- each a count and its items: (field, increment) pairs, events, errors; then per timeline
-- bucket its time to live (ms), its slowest delivery (ms), a count and (field, increment)
-- pairs. Answers the first parked delivery's due time.
redis.call('SET', KEYS[4], ARGV[1], 'NX')
local a = 3
local function count()
  a = a + 1
  return tonumber(ARGV[a - 1])
end
for _ = 1, count() do
  redis.call('HINCRBY', KEYS[1], ARGV[a], ARGV[a + 1])
  a = a + 2
end
for list = 2, 3 do
  local n = count()
  for _ = 1, n do
    redis.call('LPUSH', KEYS[list], ARGV[a])
    a = a + 1
  end
  if n > 0 then redis.call('LTRIM', KEYS[list], 0, tonumber(ARGV[2]) - 1) end
end
for bucket = 6, #KEYS do
  local ttl, max = ARGV[a], ARGV[a + 1]
  a = a + 3
  for _ = 1, tonumber(ARGV[a - 1]) do
    redis.call('HINCRBY', KEYS[bucket], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  if tonumber(max) > tonumber(redis.call('HGET', KEYS[bucket], 'max') or '0') then
    redis.call('HSET', KEYS[bucket], 'max', max)
  end
  redis.call('PEXPIRE', KEYS[bucket], ttl)
end
local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
return first[2] or false
