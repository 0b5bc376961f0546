-- The fleet view: every report in KEYS[1], after Redis time in ms.
local t = redis.call('TIME')
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return all
