-- A graceful release (lease.ts): KEYS[1] the lease, KEYS[2] its fence hash; ARGV[1] the
-- owner. 1 when released, 0 when ARGV[1] is not the owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'holder', '')
  return 1
end
return 0
