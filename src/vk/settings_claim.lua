-- The claim of a shared settings check (settings_check.ts): KEYS[1] a settings key;
-- ARGV[1] ms. Answers the shared result, "" while a replica checks, or nil after marking
-- the check as the caller's.
local shared = redis.call('GET', KEYS[1])
if shared then return shared end
redis.call('SET', KEYS[1], '', 'PX', ARGV[1])
return false
