/**
 * How far behind the consumers are: each queueing destination's backlog (what consumers have
 * not taken, the age of the oldest such item, a stream's consumer groups), read when the
 * status is read, and whether it keeps growing. A list whose consumer died grows without a
 * dip; a live consumer makes it dip now and then. A stream without a consumer group never
 * warns: nothing tells what its readers took.
 * @module
 */
import type { Backlog, ConsumerGroup } from "../deliver/kinds/kind.ts";
import { withTimeout } from "../util/time.ts";

/** One destination's backlog as the status shows it. */
export interface BacklogView {
  depth: number;
  oldest_age_s: number | null;
  /** How many consumers read it, where the server tells (a RabbitMQ queue); else null. */
  consumers: number | null;
  /** What consumers have not taken grew over a minute of readings without ever shrinking. */
  growing: boolean;
  /** A stream's consumer groups (empty: "no consumer group"); null for a list. */
  groups: ConsumerGroup[] | null;
}

/** A backlog grows when it rose, never fell, over at least this long. */
export const GROWING_AFTER_MS = 60_000;
/** Readings older than this are forgotten. */
const WINDOW_MS = 5 * 60_000;
/** Most readings kept per destination (the page reads every 5 s). */
const MAX_READINGS = 120;

/**
 * Remembers readings per name and answers whether each keeps growing: it rose, never fell,
 * over at least {@linkcode GROWING_AFTER_MS} of readings (the last {@linkcode WINDOW_MS}).
 */
export function createGrowthWatch(): (name: string, at: number, value: number) => boolean {
  const readings = new Map<string, [at: number, value: number][]>();
  return (name, at, value) => {
    const list = readings.get(name) ?? [];
    list.push([at, value]);
    while (list.length > MAX_READINGS || (list.length > 0 && at - list[0]![0] > WINDOW_MS)) {
      list.shift();
    }
    readings.set(name, list);
    const [first, last] = [list[0]!, list.at(-1)!];
    return last[0] - first[0] >= GROWING_AFTER_MS && last[1] > first[1] &&
      list.every(([, d], i) => i === 0 || d >= list[i - 1]![1]);
  };
}

/** Reads backlogs; `read` resolves within about a second even when Redis hangs. */
export interface BacklogWatch {
  /** The backlog of each queueing destination by name; absent when unreadable. */
  read(): Promise<Map<string, BacklogView>>;
}

/** How to read one queueing destination's backlog (built by its kind). */
export interface BacklogSource {
  name: string;
  read(): Promise<Backlog | null>;
}

/** Watches the destinations that queue for consumers. */
export function createBacklogWatch(
  sources: readonly BacklogSource[],
  now: () => number = Date.now,
): BacklogWatch {
  const remember = createGrowthWatch();

  return {
    async read() {
      const views = new Map<string, BacklogView>();
      await Promise.all(sources.map(async (source) => {
        const backlog = await withTimeout(source.read(), 1000).catch(() => null);
        if (!backlog) return;
        const groups = backlog.groups ?? null;
        const growing = remember(source.name, now(), backlog.depth) && groups?.length !== 0;
        views.set(source.name, {
          depth: backlog.depth,
          oldest_age_s: backlog.oldestAgeS,
          consumers: backlog.consumers ?? null,
          growing,
          groups,
        });
      }));
      return views;
    },
  };
}
