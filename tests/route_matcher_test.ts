import assert from "node:assert/strict";
import { parseRoutes } from "../src/config/routes.ts";
import type { CustomEvent } from "../src/events/types.ts";
import { matches, route } from "../src/route/matcher.ts";

const base = {
  ts: 1,
  datetime: "",
  event_id: "e",
  group_id: 1,
  user_id: 5,
  user_name: null,
  user_nick: null,
  peer_id: 2000000002,
  peer_name: null,
  chat_id: 2,
};
const message = {
  ...base,
  event_type: "message_new",
  cmid: 1,
  text: "Hello there",
  reply: null,
  forward: [],
  attachments: [],
  mentions: [],
} as CustomEvent;
const command = {
  ...message,
  event_type: "command_call",
  text: "/ban x",
  command: "ban",
  args: ["x"],
} as CustomEvent;
const button = {
  ...base,
  event_type: "button_pressed",
  cmid: 1,
  button_event_id: "b",
  payload: { call_action: "test", n: { deep: [1] } },
} as CustomEvent;
const join = { ...base, event_type: "member_join", join_type: "join" } as unknown as CustomEvent;

Deno.test("matches() tests each condition of when", async (t) => {
  const cases: [string, Record<string, unknown>, CustomEvent, boolean][] = [
    ["empty when", {}, message, true],
    ["event_type in list", { event_type: ["message_new", "reaction"] }, message, true],
    ["event_type not in list", { event_type: ["command_call"] }, message, false],
    ["group_id", { group_id: [1] }, message, true],
    ["peer_id", { peer_id: [2000000003] }, message, false],
    ["chat_id", { chat_id: [2] }, message, true],
    [
      "chat_id on an event without one",
      { chat_id: [2] },
      { ...join, chat_id: undefined } as unknown as CustomEvent,
      false,
    ],
    ["user_id", { user_id: [5, 6] }, message, true],
    ["command", { command: ["ban"] }, command, true],
    ["command on a plain message", { command: ["ban"] }, message, false],
    ["text regex", { text: "^hello", event_type: ["message_new"] }, message, false],
    ["text regex (case)", { text: "^Hello" }, message, true],
    ["text on an event without text", { text: "." }, button, false],
    ["text, case-insensitive Cyrillic", { text: "(?i)^привет" }, {
      ...message,
      text: "ПРИВЕТ всем",
    } as CustomEvent, true],
    ["payload subset", { payload: { call_action: "test" } }, button, true],
    ["payload deep equal", { payload: { n: { deep: [1] } } }, button, true],
    ["payload mismatch", { payload: { call_action: "other" } }, button, false],
    ["payload on an event without one", { payload: { a: 1 } }, message, false],
    ["all conditions must hold", { event_type: ["message_new"], user_id: [99] }, message, false],
  ];
  for (const [name, when, event, expected] of cases) {
    await t.step(name, () => {
      const routes = parseRoutes({
        destinations: { d: { kind: "log" } },
        rules: [{ when, to: ["d"] }],
      });
      assert.equal(matches(routes.rules[0]!.when, event), expected);
    });
  }
});

Deno.test("matches() reads at most VK's 4,096 characters of a text", () => {
  const routes = parseRoutes({
    destinations: { d: { kind: "log" } },
    rules: [{ when: { text: "x" }, to: ["d"] }],
  });
  const at = (i: number) => ({ ...message, text: "a".repeat(i) + "x" }) as CustomEvent;
  assert.equal(matches(routes.rules[0]!.when, at(4095)), true, "the 4,096th character is read");
  assert.equal(matches(routes.rules[0]!.when, at(4096)), false, "the 4,097th is not");
});

Deno.test("route() answers hostile texts for patterns a backtracking engine hangs on", () => {
  // The old checks let the first two through (one message then blocked the router for seconds)
  // and hung start-up on the third.
  const routes = parseRoutes({
    destinations: { hit: { kind: "log" } },
    rules: [
      { when: { text: "<a*a*a*a*>" }, to: ["hit"] },
      { when: { text: "\\[\\w*\\s*\\w*\\s*\\w*\\]$" }, to: ["hit"] },
      { when: { text: "\\d+\\d+\\d+\\d+x" }, to: ["hit"] },
    ],
  });
  const say = (text: string) => route({ ...message, text } as CustomEvent, routes);
  assert.deepEqual(say("<" + "a".repeat(4095)), []);
  assert.deepEqual(say("[" + "a ".repeat(2047) + "a"), []);
  assert.deepEqual(say("1".repeat(4096)), []);
  assert.deepEqual(say("<" + "a".repeat(400) + ">"), ["hit"]);
  assert.deepEqual(say("[ab cd]"), ["hit"]);
  assert.deepEqual(say("1234x"), ["hit"]);
});

Deno.test("route() stops at the first match unless it continues, and falls back to default", () => {
  const routes = parseRoutes({
    destinations: {
      a: { kind: "log" },
      b: { kind: "log" },
      c: { kind: "log" },
      fallback: { kind: "log" },
    },
    rules: [
      { when: { event_type: ["message_new"] }, to: ["a"], continue: true },
      { when: { event_type: ["message_new", "command_call"] }, to: ["b", "a"] },
      { when: { event_type: ["message_new"] }, to: ["c"] },
    ],
    default: "fallback",
  });
  assert.deepEqual(
    route(message, routes),
    ["a", "b"],
    "continue, then first match stops; no repeats",
  );
  assert.deepEqual(route(command, routes), ["b", "a"]);
  assert.deepEqual(route(button, routes), ["fallback"]);
  assert.deepEqual(route(button, { ...routes, default: null }), [], "unrouted without a default");
});

Deno.test("the repository's routes.json sends each original event type to its own list", async () => {
  const routes = parseRoutes(
    JSON.parse(await Deno.readTextFile(new URL("../routes.json", import.meta.url))),
  );
  assert.deepEqual(route(command, routes), ["command_call"]);
  assert.deepEqual(route(message, routes), ["message_new"]);
  assert.deepEqual(route(button, routes), ["button_pressed"]);
  assert.deepEqual(
    route({ ...base, event_type: "reaction", cmid: 1, reaction_id: 1 } as CustomEvent, routes),
    ["reaction"],
  );
  assert.deepEqual(route(join, routes), []);
});
