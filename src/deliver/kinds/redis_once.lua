-- Effectively-once appends (redis_once.ts): KEYS[1] the destination, KEYS[2] the
-- counters hash when tallied, then one dedup marker per event; ARGV[1] the kind's setting,
-- ARGV[2] the marker TTL, ARGV[3] and ARGV[4] the tally's fields ('' for none), ARGV[5]
-- the arguments per event, then those of each event. Answers 1 (appended) or 0 (already
-- there) per event.
--- @include append
local tallied = ARGV[3] ~= ''
local first = tallied and 3 or 2
local per = tonumber(ARGV[5])
local done, appended = {}, 0
for i = first, #KEYS do
  local n = i - first
  if redis.call('EXISTS', KEYS[i]) == 1 then
    done[n + 1] = 0
  else
    append(KEYS[1], ARGV[1], 5 + n * per)
    redis.call('SET', KEYS[i], '1', 'EX', ARGV[2])
    done[n + 1] = 1
    appended = appended + 1
  end
end
if tallied then
  if appended > 0 then redis.call('HINCRBY', KEYS[2], ARGV[3], appended) end
  if #done > appended then redis.call('HINCRBY', KEYS[2], ARGV[4], #done - appended) end
end
return done
