-- Settles claims: KEYS are dedup markers, ARGV[1] the marker TTL (s), ARGV[2] the
-- claimer's token, ARGV[2 + i] '1' when the event of KEYS[i] was delivered (its marker is
-- set), else '0' (its claim is dropped, if it is still this claimer's).
for i, key in ipairs(KEYS) do
  if ARGV[2 + i] == '1' then
    redis.call('SET', key, '1', 'EX', ARGV[1])
  elseif redis.call('GET', key) == 'claim:' .. ARGV[2] then
    redis.call('DEL', key)
  end
end
return #KEYS
