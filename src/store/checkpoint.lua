-- A checkpoint write (KEYS[1] = ARGV[1]); a script, so that it can travel with a batch's pushes.
return redis.call('SET', KEYS[1], ARGV[1])
