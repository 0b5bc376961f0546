// deno-lint-ignore-file no-console -- an example whose output is the events it prints
/**
 * A consumer of a `redis-list` destination, the reliable way: each event is moved to a
 * processing list (`BLMOVE`), handled (here: printed as one JSON line), and only then
 * removed from there (`LREM`). A consumer that dies mid-work leaves the event in the
 * processing list instead of losing it, and re-handles what it finds there when it starts.
 * Events may come twice (after such a crash, or a replay of dead letters): key side
 * effects on `event_id` where acting twice matters.
 *
 *     REDIS_URL=redis://127.0.0.1:6379 LIST=vk:message_new \
 *       deno run --allow-net --allow-env examples/redis_list_consumer.ts
 *
 * `LIST` is the destination's `key`; `PROCESSING` (default `<LIST>:processing`) is this
 * consumer's own list (one per consumer when several share the work). The router pushes
 * with `LPUSH` by default, so the oldest event is on the right; set `PUSH=rpush` for a
 * destination with `"push": "rpush"`. Ctrl-C (or SIGTERM) stops it after the event in hand.
 * @module
 */
import { Redis } from "ioredis";

const list = Deno.env.get("LIST") ?? "vk:events";
const processing = Deno.env.get("PROCESSING") ?? `${list}:processing`;
/** The oldest event's end of the list. */
const oldest = Deno.env.get("PUSH") === "rpush" ? "LEFT" : "RIGHT";

const redis = new Redis(Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379");
let stopping = false;
const stop = () => {
  stopping = true;
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

/** Handles one event: here, prints it. Throwing leaves it in the processing list. */
function handle(item: string): void {
  const event = JSON.parse(item) as { event_id: string; event_type: string };
  console.log(JSON.stringify(event));
}

// What a previous run took but did not finish, oldest first.
for (const item of (await redis.lrange(processing, 0, -1)).reverse()) {
  handle(item);
  await redis.lrem(processing, 1, item);
}
while (!stopping) {
  // A short block, so a stop request is seen within a second.
  const item = oldest === "RIGHT"
    ? await redis.blmove(list, processing, "RIGHT", "LEFT", 1)
    : await redis.blmove(list, processing, "LEFT", "LEFT", 1);
  if (item === null) continue;
  handle(item);
  await redis.lrem(processing, 1, item);
}
redis.disconnect();
