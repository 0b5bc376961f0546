/**
 * Micro benchmarks: validate + transform + route per event type (the fixtures), route() with
 * text rules on re2js against the same rules on native RegExp (baseline, the engine re2js
 * replaced), and the Lua dedup-push pipeline against a plain LPUSH pipeline of the same events
 * (baseline).
 * Run by `deno task bench` (`bench/run.ts`), which gives it a private Redis
 * (BENCH_REDIS_URL); with BENCH_SMOKE=1 each bench runs a few iterations only.
 * @module
 */
import { parseRoutes, type Routes } from "../src/config/routes.ts";
import { createRedisListSink } from "../src/deliver/kinds/redis_list.ts";
import { transform } from "../src/events/transform.ts";
import { connectRedis } from "../src/redis/connection.ts";
import { route } from "../src/route/matcher.ts";
import type { CustomEvent } from "../src/events/types.ts";
import { BENCH_SMOKE, benchPrefix, benchRedisUrl } from "./bench_env.ts";

const FIXTURES = new URL("../fixtures/vk/", import.meta.url);

/** `Deno.bench`, a few iterations only in a smoke run (it checks that each bench works). */
function bench(definition: Deno.BenchDefinition): void {
  Deno.bench(BENCH_SMOKE ? { ...definition, n: 2, warmup: 1 } : definition);
}
const OPTIONS = { receivedAt: 1709107923, timezone: "Europe/Moscow", commandPrefixes: ["/", "!"] };
const routes = parseRoutes(
  JSON.parse(Deno.readTextFileSync(new URL("../routes.json", import.meta.url))),
);
const cases = [
  "message_new_chat",
  "command_call_self_mention",
  "message_new_forwards",
  "message_event_string",
  "reaction_set",
  "chat_action_invite",
  "group_join",
  "unknown_type",
  "malformed_peer_id",
];

for (const name of cases) {
  const raw = JSON.parse(Deno.readTextFileSync(new URL(`${name}.raw.json`, FIXTURES)));
  bench({
    name: `validate + transform + route: ${name}`,
    group: "per event",
    baseline: name === "message_new_chat",
    fn() {
      const result = transform(raw, OPTIONS);
      if (result.ok) route(result.event, routes);
    },
  });
}

/** Typical moderation rules: patterns valid both as RE2 and as JavaScript (`u` flag). */
const textRules = [
  { when: { text: "^[/!](?:ban|kick|mute)\\b" }, to: ["moderation"] },
  { when: { text: "(?:казино|ставки|крипт[аоу]|spam|casino)" }, to: ["spam"] },
  { when: { text: "\\d{3,}" }, to: ["numbers"] },
  { to: ["rest"] },
];
const re2Routes = parseRoutes({
  destinations: Object.fromEntries(
    ["moderation", "spam", "numbers", "rest"].map((name) => [name, { kind: "log" }]),
  ),
  rules: textRules,
});
/** The same rules on the engine they ran on before. */
const nativeRoutes: Routes = {
  ...re2Routes,
  rules: re2Routes.rules.map((rule, i) => {
    const source = textRules[i]!.when?.text;
    return source === undefined
      ? rule
      : { ...rule, when: { ...rule.when, text: new RegExp(source, "u") } };
  }),
};
const chatMessage = transform(
  JSON.parse(Deno.readTextFileSync(new URL("message_new_chat.raw.json", FIXTURES))),
  OPTIONS,
);
if (!chatMessage.ok) throw new Error("The message_new_chat fixture no longer transforms");
const withText = (text: string) => ({ ...chatMessage.event, text }) as CustomEvent;
const textInputs: [string, CustomEvent[]][] = [
  ["typical messages", [
    chatMessage.event,
    withText("Привет всем! Сегодня в 19:00 собираемся у входа, не опаздывайте."),
    withText("/ban @id206295116 спам"),
    withText("Заходи в наше казино, бонус 500 рублей"),
  ]],
  ["a 4,096-character message", [
    withText("Длинное сообщение без ссылок. ".repeat(137).slice(0, 4096)),
  ]],
];
for (const [inputs, events] of textInputs) {
  for (const [engine, routes] of [["native RegExp", nativeRoutes], ["re2js", re2Routes]] as const) {
    bench({
      name: `route() with text rules, ${engine}: ${inputs}`,
      group: `route() with text rules: ${inputs}`,
      baseline: engine === "native RegExp",
      fn() {
        for (const event of events) route(event, routes);
      },
    });
  }
}

const redis = connectRedis({ kind: "native", url: benchRedisUrl() });
const prefix = benchPrefix("micro");
const sink = createRedisListSink({
  name: "bench",
  redis: redis.redis,
  key: `${prefix}list`,
  push: "lpush",
  prefix,
});
const body = Deno.readTextFileSync(new URL("message_new_chat.expected.json", FIXTURES));
let n = 0;

bench({
  name: "plain LPUSH pipeline, 100 events",
  group: "push 100 events",
  baseline: true,
  n: 300,
  warmup: 20,
  async fn() {
    const pipeline = redis.redis.pipeline();
    for (let i = 0; i < 100; i++) pipeline.lpush(`${prefix}plain`, body);
    await pipeline.exec();
  },
});

bench({
  name: "Lua dedup + push pipeline, 100 events",
  group: "push 100 events",
  n: 300,
  warmup: 20,
  async fn() {
    await sink.deliver(Array.from({ length: 100 }, () => ({ eventId: `e${n++}`, body })));
  },
});

bench({
  name: "Lua pipeline, 100 replayed events (all deduplicated)",
  group: "push 100 events",
  n: 300,
  warmup: 20,
  async fn() {
    await sink.deliver(Array.from({ length: 100 }, (_, i) => ({ eventId: `e${i}`, body })));
  },
});

// The runner deletes every key under the run's prefix afterwards (markers included).
globalThis.addEventListener("unload", () => redis.close());
