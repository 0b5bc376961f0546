-- One round trip per renewal period for a replica: its heartbeat, the renewal of every
-- lease it holds, the acquisition of the free leases it is assigned, and a read of every
-- community's holder (what standbys need to know is free).
-- KEYS[1] instances (zset: id -> last heartbeat, Redis ms), KEYS[2] joined (hash: id ->
-- first heartbeat of its current stay), then per community its lease and its fence hash.
-- ARGV[1] instance id, ARGV[2] owner token, ARGV[3] TTL ms, ARGV[4] one action per
-- community: 'r' renew, 'a' acquire if free, 'A' acquire also from an earlier process of
-- this instance id (a restart), '-' only read.
-- Answers {now, {id, joined, ...} of the live instances, {holder, fence, previous} per
-- community}: fence > 0 when acquired now (previous: the owner that had not released it,
-- or ''); holder '' when free.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, owner, ttl, actions = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl)) do
  redis.call('ZREM', KEYS[1], gone)
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZADD', KEYS[1], now, me)
redis.call('HSETNX', KEYS[2], me, now)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
local live = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  live[#live + 1] = id
  live[#live + 1] = tonumber(redis.call('HGET', KEYS[2], id) or now)
end
local out = {}
local mine = me .. '#'
for i = 1, #actions do
  local lease, fence = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local action = string.sub(actions, i, i)
  local holder = redis.call('GET', lease) or ''
  local token, previous = 0, ''
  if action == 'r' and holder == owner then
    redis.call('PEXPIRE', lease, ttl)
  elseif (action == 'a' or action == 'A') and (holder == '' or (action == 'A'
      and holder ~= owner and string.sub(holder, 1, #mine) == mine)) then
    token = redis.call('HINCRBY', fence, 'token', 1)
    previous = redis.call('HGET', fence, 'holder') or ''
    redis.call('HSET', fence, 'holder', owner)
    redis.call('SET', lease, owner, 'PX', ttl)
    holder = owner
  end
  out[#out + 1] = holder
  out[#out + 1] = token
  out[#out + 1] = previous
end
return {now, live, out}
