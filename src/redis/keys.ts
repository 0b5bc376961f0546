/**
 * Every Redis key the router builds for its own state, under `REDIS_PREFIX`, named in one
 * place. Modules and tests build keys only through {@linkcode redisKeys}, so that a key's
 * shape is written once and two features can never collide on it. Destinations' own keys
 * (a `redis-list`'s `key`) come from the routes file and are not here; a start-up check
 * keeps them out of the prefix.
 * @module
 */

/** The router's keys under one prefix. */
export interface RedisKeys {
  /** `REDIS_PREFIX` itself: every key below starts with it. */
  readonly prefix: string;
  /** A community's long-poll checkpoint (the last `ts` handled). */
  checkpoint(groupId: number): string;
  /** The long-poll server and key its lease holder polls with (JSON), handed to the next. */
  pollServer(groupId: number): string;
  /** A community's long-poll settings check, shared by the replicas (its warnings, JSON). */
  settings(groupId: number): string;
  /** The marker that an event reached a destination (effectively-once appends). */
  dedup(destination: string, eventId: string): string;
  /** Parked deliveries' ids by due time (a sorted set, scores in ms). */
  readonly parkedDue: string;
  /** Parked deliveries' bodies by id (a hash). */
  readonly parkedItems: string;
  /** Dead letters no destination took, by id in time order (a sorted set). */
  readonly deadLetterIds: string;
  /** Those letters by id (a hash). */
  readonly deadLetterItems: string;
  /** Items replay could not read, set aside (a list). */
  readonly deadLetterAside: string;
  /** Where dead letters were kept before they had ids (a list, emptied into the above once). */
  readonly deadLetters: string;
  /** Destinations an operator paused, by name, with when (a hash; every replica reads it). */
  readonly pausedDestinations: string;
  /** Each replica's report of itself for the fleet view (a hash). */
  readonly fleet: string;
  /** A named lock (one replay at a time, ...). */
  lock(name: string): string;
  /** A status-page login session. */
  session(id: string): string;
  /** Who holds a community's lease. */
  lease(groupId: number): string;
  /** The fencing token of a community's lease (grows with every new holder). */
  fence(groupId: number): string;
  /** The instances' heartbeats (a sorted set, scored by Redis time in ms). */
  readonly instances: string;
  /** When each live instance joined (a hash of Redis times in ms). */
  readonly instancesJoined: string;
  /** The shared VK rate limit of one token, by a hash of it (never the token itself). */
  vkRate(tokenHash: string): string;
  /** The worker's shared counters (a hash). */
  readonly metrics: string;
  /** The worker's recent events (a list). */
  readonly recentEvents: string;
  /** The worker's recent errors (a list). */
  readonly recentErrors: string;
  /** When the shared counters started. */
  readonly startedAt: string;
  /** One bucket of the shared timeline, by its resolution's key part and its start (ms). */
  timeline(resolution: string, start: number): string;
}

/** The keys under `prefix` (`REDIS_PREFIX`, e.g. `vk-router:`). */
export function redisKeys(prefix: string): RedisKeys {
  return {
    prefix,
    checkpoint: (groupId) => `${prefix}checkpoint:${groupId}`,
    pollServer: (groupId) => `${prefix}checkpoint:${groupId}:server`,
    settings: (groupId) => `${prefix}settings:${groupId}`,
    dedup: (destination, eventId) => `${prefix}dedup:${destination}:${eventId}`,
    parkedDue: `${prefix}retry:due`,
    parkedItems: `${prefix}retry:items`,
    deadLetterIds: `${prefix}dead:ids`,
    deadLetterItems: `${prefix}dead:items`,
    deadLetterAside: `${prefix}dead:aside`,
    deadLetters: `${prefix}dead`,
    pausedDestinations: `${prefix}paused`,
    fleet: `${prefix}fleet`,
    lock: (name) => `${prefix}lock:${name}`,
    session: (id) => `${prefix}session:${id}`,
    lease: (groupId) => `${prefix}lease:${groupId}`,
    fence: (groupId) => `${prefix}lease:${groupId}:fence`,
    instances: `${prefix}instances`,
    instancesJoined: `${prefix}instances:joined`,
    vkRate: (tokenHash) => `${prefix}vk-rate:${tokenHash}`,
    metrics: `${prefix}metrics`,
    recentEvents: `${prefix}recent:events`,
    recentErrors: `${prefix}recent:errors`,
    startedAt: `${prefix}started_at`,
    timeline: (resolution, start) => `${prefix}timeline:${resolution}:${start}`,
  };
}
