-- Up to ARGV[2] parked ids due by ARGV[1] (KEYS[1], by due time) and their bodies (KEYS[2]).
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
if #ids == 0 then return {{}, {}} end
return {ids, redis.call('HMGET', KEYS[2], unpack(ids))}
