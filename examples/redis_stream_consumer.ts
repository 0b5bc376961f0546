// deno-lint-ignore-file no-console -- an example whose output is the events it prints
/**
 * A consumer of a `redis-stream` destination, in a consumer group: several consumers share
 * the work, each entry stays pending until this consumer acknowledges it (`XACK`, after
 * handling: here, printing the event as one JSON line), and on start it first re-reads its
 * own pending entries, then takes over entries another consumer left pending for over a
 * minute (`XAUTOCLAIM`). Events may come twice (after a crash, or a replay of dead letters):
 * key side effects on `event_id` where acting twice matters.
 *
 *     REDIS_URL=redis://127.0.0.1:6379 STREAM=vk:events GROUP=handlers CONSUMER=worker-1 \
 *       deno run --allow-net --allow-env examples/redis_stream_consumer.ts
 *
 * `STREAM` is the destination's `key`. The group is created when missing, reading new
 * entries only (`$`); `GROUP_START=0` makes a new group read the stream's history too.
 * Ctrl-C (or SIGTERM) stops it after the entries in hand are acknowledged.
 * @module
 */
import { Redis } from "ioredis";

const stream = Deno.env.get("STREAM") ?? "vk:events";
const group = Deno.env.get("GROUP") ?? "handlers";
const consumer = Deno.env.get("CONSUMER") ?? "worker-1";
/** Entries pending this long with another consumer are taken over. */
const CLAIM_AFTER_MS = 60_000;

const redis = new Redis(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379");
let stopping = false;
const stop = () => {
  stopping = true;
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

try {
  await redis.xgroup("CREATE", stream, group, Deno.env.get("GROUP_START") ?? "$", "MKSTREAM");
} catch (error) {
  if (!String(error).includes("BUSYGROUP")) throw error; // it exists: fine
}

type Entry = [id: string, fields: string[]];

/** Handles each entry (its `event` field is the event's JSON), then acknowledges it. */
async function handle(entries: Entry[]): Promise<void> {
  for (const [id, fields] of entries) {
    const event = fields[fields.indexOf("event") + 1];
    if (event !== undefined) console.log(JSON.stringify(JSON.parse(event)));
    await redis.xack(stream, group, id);
  }
}

/** Reads this consumer's entries after `from` (`0`: its pending ones; `>`: new ones). */
async function read(from: string, block: number | null): Promise<Entry[]> {
  const args = block === null ? [] : ["BLOCK", block];
  const reply = await redis.xreadgroup(
    "GROUP",
    group,
    consumer,
    "COUNT",
    100,
    ...(args as ["BLOCK", number]),
    "STREAMS",
    stream,
    from,
  ) as [string, Entry[]][] | null;
  return reply?.[0]?.[1] ?? [];
}

await handle(await read("0", null));
const [, claimed] = await redis.xautoclaim(stream, group, consumer, CLAIM_AFTER_MS, "0-0") as [
  string,
  Entry[],
];
await handle(claimed);
while (!stopping) await handle(await read(">", 1000));
redis.disconnect();
