/**
 * The `log` destination's lines as `configureLogging` formats them: the event once, as a
 * structured property, readable in pretty lines, with secrets redacted.
 */
import assert from "node:assert/strict";
import { dispose } from "@logtape/logtape";
import { createLogSink } from "../src/deliver/kinds/log.ts";
import { configureLogging } from "../src/logging.ts";
import { REDACTED } from "../src/redact.ts";

const SECRET = "callback-secret-0a1b2c3d";
const event = {
  event_type: "message_new",
  event_id: "ev-1",
  group_id: 42,
  text: `hi "there", the secret is ${SECRET} {not a placeholder}`,
  payload: { call_action: "test", deep: { a: { b: { c: { d: [1, 2, { e: "f" }] } } } } },
};

/** What the console sink prints while `run` logs, one entry per line. */
async function captureConsole(
  format: "json" | "pretty",
  run: () => Promise<unknown>,
): Promise<string[]> {
  await configureLogging({ level: "info", format, dir: null }, [SECRET]);
  const lines: string[] = [];
  // The console sink looks its method up on the global console at each line.
  const target = globalThis.console;
  const original = target.info;
  target.info = (line: string) => lines.push(line);
  try {
    await run();
  } finally {
    target.info = original;
    await dispose();
  }
  return lines;
}

Deno.test("a log destination writes each event once, as an object property of its JSON line", async () => {
  const sink = createLogSink("console");
  const lines = await captureConsole(
    "json",
    () => sink.deliver([{ eventId: event.event_id, body: JSON.stringify(event) }]),
  );
  assert.equal(lines.length, 1, lines.join("\n"));
  const line = JSON.parse(lines[0]!);
  assert.equal(line.message, "Event message_new ev-1 to console");
  assert.equal(line.logger, "vk-event-router.events");
  assert.equal(line.destination, "console");
  assert.deepEqual(line.event, {
    ...event,
    text: `hi "there", the secret is ${REDACTED} {not a placeholder}`,
  });
  assert.equal(lines[0]!.split("call_action").length - 1, 1, "the event appears once");
  assert.ok(!lines[0]!.includes(SECRET), "the secret is redacted");
});

Deno.test("a pretty line shows the event readably after its message", async () => {
  const sink = createLogSink("console");
  const lines = await captureConsole(
    "pretty",
    () => sink.deliver([{ eventId: event.event_id, body: JSON.stringify(event) }]),
  );
  assert.equal(lines.length, 1);
  // deno-lint-ignore no-control-regex -- strips the colours
  const plain = lines[0]!.replace(/\x1b\[[0-9;]*m/g, "");
  assert.match(plain, / INF vk-event-router·events: Event message_new ev-1 to console event=\{ /);
  assert.match(plain, /event_type: "message_new"/);
  assert.match(
    plain,
    /payload: \{ call_action: "test", deep: \{ a: \{ b: \{ c: \{ d: \[ 1, 2, \{ e: "f" \} \] \} \} \} \} \}/,
  );
  assert.ok(!plain.includes('\\"'), "no escaped JSON string");
  assert.ok(!plain.includes(SECRET), "the secret is redacted");
  assert.equal(plain.split("\n").length, 1, "one line per event");
});
