-- A reservation of the shared VK rate limit (shared_rate_limiter.ts): KEYS[1] the token's
-- starts; ARGV[1] per window, ARGV[2] window ms, ARGV[3] a unique member. Reserves the
-- earliest start that keeps the limit, no earlier than the last reservation; answers how
-- many ms from now it is.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local at = now
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local kth = redis.call('ZRANGE', KEYS[1], n - limit, n - limit, 'WITHSCORES')
  at = math.max(at, tonumber(kth[2]) + window)
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then at = math.max(at, tonumber(last[2])) end
redis.call('ZADD', KEYS[1], at, ARGV[3])
redis.call('PEXPIRE', KEYS[1], at - now + window)
return at - now
