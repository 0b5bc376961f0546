-- Claims deliveries: KEYS are the events' dedup markers, ARGV[1] the claim's TTL (ms),
-- ARGV[2] the claimer's token. A marker '1' means delivered (the Redis kinds set the
-- same), 'claim:<token>' that a process is delivering. Answers one word per key.
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value == '1' then
    out[i] = 'delivered'
  elseif value then
    out[i] = 'busy'
  else
    redis.call('SET', key, 'claim:' .. ARGV[2], 'PX', ARGV[1])
    out[i] = 'claimed'
  end
end
return out
