-- KEYS: timeline bucket hashes. Answers each one's fields and values, flat.
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
