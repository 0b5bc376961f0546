-- A write under a lease (redis_store.ts): KEYS[1] the key to set, KEYS[2] the fence hash;
-- ARGV[1] the value, ARGV[2] the writer's token. Sets the key only when the token is the
-- last one issued, else writes nothing and fails with STALE_FENCE.
local token = tonumber(redis.call('HGET', KEYS[2], 'token') or '0')
if tonumber(ARGV[2]) ~= token then
  return redis.error_reply('STALE_FENCE fence ' .. ARGV[2] .. ', last issued ' .. token)
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
