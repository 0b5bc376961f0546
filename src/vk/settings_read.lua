-- What the owners shared (settings_check.ts): KEYS the settings keys; their values.
return redis.call('MGET', unpack(KEYS))
