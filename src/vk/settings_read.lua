-- What the owners shared (settings_check.ts): KEYS the settings keys, then the poll-server
-- keys of the communities whose polling is asked about; ARGV[1] how many settings keys.
-- Answers their values (false where none), then how many of the poll servers are kept.
local n = tonumber(ARGV[1])
local found = {}
local polling = 0
for i = 1, #KEYS do
  if i <= n then
    found[i] = redis.call('GET', KEYS[i])
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    polling = polling + 1
  end
end
found[n + 1] = polling
return found
