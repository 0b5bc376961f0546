-- A replica's fleet-view report: KEYS[1] the reports, ARGV[1] the instance id, ARGV[2] its report,
-- ARGV[3] the age after which the reports are forgotten. Answers Redis time in ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[1] .. '@', now)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return now
