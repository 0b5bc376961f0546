-- One page of dead letters: KEYS[1] the ids (sorted set, scores 0), KEYS[2] the letters by
-- id; ARGV[1] the lexicographic start ('-' or '(' .. the last id seen), ARGV[2] how many.
-- Answers {ids, letters}.
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
