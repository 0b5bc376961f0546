-- A named lock: KEYS[1] the lock, ARGV[1] 'take', 'renew' or 'release', ARGV[2] the
-- holder's token, ARGV[3] the TTL (ms). Answers 1 when done, 0 when another holds it.
local holder = redis.call('GET', KEYS[1])
if ARGV[1] == 'take' then
  if holder and holder ~= ARGV[2] then return 0 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if holder ~= ARGV[2] then return 0 end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
