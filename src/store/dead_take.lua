-- Takes dead letters in one step: KEYS[1] the ids (a sorted set, all scores 0, ids in
-- time order), KEYS[2] the letters by id. With ARGV[1] = 'oldest', the ARGV[2] oldest;
-- with ARGV[1] = 'ids', those of ARGV[2..] still there. Answers {ids, letters}.
local ids
if ARGV[1] == 'oldest' then
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
else
  ids = {}
  for i = 2, #ARGV do
    if redis.call('ZSCORE', KEYS[1], ARGV[i]) then ids[#ids + 1] = ARGV[i] end
  end
end
if #ids == 0 then return {{}, {}} end
local letters = redis.call('HMGET', KEYS[2], unpack(ids))
redis.call('ZREM', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return {ids, letters}
