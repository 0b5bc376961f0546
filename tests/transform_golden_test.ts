import assert from "node:assert/strict";
import { createEnricher } from "../src/enrich/enricher.ts";
import { transform } from "../src/events/transform.ts";
import { fixtureDirectory } from "./support/fixture_directory.ts";

const DIR = new URL("../fixtures/vk/", import.meta.url);
const OPTIONS = { receivedAt: 1709107923, timezone: "Europe/Moscow", commandPrefixes: ["/", "!"] };

async function readJson(name: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(new URL(name, DIR)));
}

const names = [...Deno.readDirSync(DIR)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".raw.json"))
  .map((n) => n.slice(0, -".raw.json".length))
  .sort();

Deno.test("every raw fixture has an expected file beside it", async () => {
  assert.ok(names.length >= 25, `only ${names.length} fixtures`);
  for (const name of names) await Deno.stat(new URL(`${name}.expected.json`, DIR));
});

Deno.test("transform + enrich turn each raw fixture into its expected event", async (t) => {
  for (const name of names) {
    await t.step(name, async () => {
      const raw = await readJson(`${name}.raw.json`);
      const expected = await readJson(`${name}.expected.json`) as Record<string, unknown>;
      const result = transform(raw, OPTIONS);
      if ("rejection" in expected) {
        assert.equal(result.ok, false, "expected a rejection");
        if (!result.ok) {
          assert.deepEqual(JSON.parse(JSON.stringify(result.rejection)), expected.rejection);
        }
        return;
      }
      assert.ok(result.ok, `rejected: ${JSON.stringify(!result.ok && result.rejection.issues)}`);
      await createEnricher({ directory: fixtureDirectory() }).enrich([result.event]);
      assert.deepEqual(JSON.parse(JSON.stringify(result.event)), expected);
    });
  }
});

Deno.test("transform() honours COMMAND_PREFIXES and EVENT_TIMEZONE", async () => {
  const raw = await readJson("command_call_bang_mention.raw.json");
  const slashOnly = transform(raw, { ...OPTIONS, commandPrefixes: ["/"] });
  assert.ok(slashOnly.ok && slashOnly.event.event_type === "message_new");
  const utc = transform(raw, { ...OPTIONS, timezone: "UTC" });
  assert.ok(utc.ok);
  assert.equal(utc.event.datetime, "2024-02-28 08:12:03");
  const longPrefix = transform(raw, { ...OPTIONS, commandPrefixes: ["!", "!k"] });
  assert.ok(
    longPrefix.ok && longPrefix.event.event_type === "command_call" &&
      longPrefix.event.command === "ick",
  );
});
