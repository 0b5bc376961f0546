-- Takes the ARGV[1] oldest entries of the stream KEYS[1] in one step (two replays never
-- get the same entry); answers them as XRANGE does.
local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[1]))
for _, entry in ipairs(entries) do redis.call('XDEL', KEYS[1], entry[1]) end
return entries
