import assert from "node:assert/strict";
import fc from "fast-check";
import { transform, TRANSFORMED_TYPES, type TransformResult } from "../src/events/transform.ts";

const OPTIONS = { receivedAt: 1709107923, timezone: "Europe/Moscow", commandPrefixes: ["/", "!"] };
const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? 1000);

const DIR = new URL("../fixtures/vk/", import.meta.url);
const fixtures: unknown[] = [...Deno.readDirSync(DIR)]
  .filter((e) => e.name.endsWith(".raw.json"))
  .map((e) => JSON.parse(Deno.readTextFileSync(new URL(e.name, DIR))));

/** Holds a result to the contract: an event with the header, or a rejection with reasons. */
function assertDefinedFate(result: TransformResult): void {
  if (result.ok) {
    assert.equal(typeof result.event.event_id, "string");
    assert.equal(typeof result.event.event_type, "string");
    assert.equal(typeof result.event.group_id, "number");
    JSON.stringify(result.event);
  } else {
    assert.ok(result.rejection.issues.length > 0, "a rejection says why");
    for (const issue of result.rejection.issues) assert.equal(typeof issue.message, "string");
  }
}

/** Every path into a JSON value, as key lists. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object" || prefix.length > 12) return [prefix];
  const children = Object.entries(value).flatMap(([k, v]) =>
    paths(v, [...prefix, Array.isArray(value) ? Number(k) : k])
  );
  return [prefix, ...children];
}

function setAt(root: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined) delete node[last];
  else {Object.defineProperty(node, last, {
      value: replacement,
      enumerable: true,
      writable: true,
      configurable: true,
    });}
  return root;
}

// Raw events arrive as parsed JSON, so mutations are JSON values (no cycles, no functions).
const hostile = fc.oneof(
  fc.jsonValue(),
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 5, unit: "grapheme" }),
  fc.string({ minLength: 10_000, maxLength: 20_000 }),
  fc.constantFrom(
    -1,
    0,
    2 ** 53,
    -(2 ** 53),
    1.5,
    NaN,
    Infinity,
    "2000000002",
    "",
    "[club218730916|x] /",
  ),
  fc.constantFrom({ __proto__: { polluted: true } }, JSON.parse('{"__proto__":{"polluted":1}}'), {
    constructor: { prototype: {} },
  }),
  fc.letrec<{ deep: unknown }>((tie) => ({
    deep: fc.oneof({ depthSize: "small" }, fc.constant(1), fc.tuple(tie("deep"))),
  })).deep,
);

Deno.test("transform() gives random JSON values a defined fate and never throws", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.jsonValue(), fc.anything()),
      (raw) => assertDefinedFate(transform(raw, OPTIONS)),
    ),
    { numRuns: RUNS },
  );
});

Deno.test("transform() gives mutated fixtures a defined fate and never throws", () => {
  fc.assert(
    fc.property(
      fc.nat({ max: fixtures.length - 1 }),
      fc.array(fc.tuple(fc.nat(), hostile), { minLength: 1, maxLength: 4 }),
      (index, mutations) => {
        let raw: unknown = structuredClone(fixtures[index]);
        for (const [at, replacement] of mutations) {
          const all = paths(raw);
          raw = setAt(raw, all[at % all.length]!, replacement);
        }
        assertDefinedFate(transform(raw, OPTIONS));
      },
    ),
    { numRuns: RUNS },
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype was polluted");
});

Deno.test("transform() keeps envelopes of any type: unknown types become raw events", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }), fc.jsonValue(), (type, object) => {
      fc.pre(!(TRANSFORMED_TYPES as readonly string[]).includes(type));
      const result = transform({ type, event_id: "e1", group_id: 1, object }, OPTIONS);
      assert.ok(result.ok && result.event.event_type === "raw" && result.event.raw_type === type);
    }),
    { numRuns: Math.min(RUNS, 500) },
  );
});

Deno.test("transform() survives forwards nested far deeper than VK allows", () => {
  let fwd: Record<string, unknown> = { from_id: 1, text: "bottom" };
  for (let i = 0; i < 20_000; i++) fwd = { from_id: 1, text: `level ${i}`, fwd_messages: [fwd] };
  const raw = {
    type: "message_new",
    event_id: "deep",
    group_id: 1,
    object: { message: { peer_id: 1, from_id: 1, text: "x", fwd_messages: [fwd] } },
  };
  const result = transform(raw, OPTIONS);
  assertDefinedFate(result);
});
