/**
 * Redaction runs on every string a chat member can make the router log or show, so its
 * time must grow linearly with the input, whatever the input. Each property compares the
 * time for n and 4n characters of one hostile input in one run (no absolute times): linear
 * is about 4x, quadratic 16x; failing above 10x leaves room for a noisy, shared machine.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createRedactor, MAX_REDACTED_CHARS, REDACTED, redactionPatterns } from "../src/redact.ts";

const SECRET = "configured-secret-value";
const patterns = redactionPatterns([SECRET]);
const MAX_RATIO = 10;
const MIB = 1024 * 1024;

/** The fastest of three timings of `work`, each repeated until it took at least 20 ms. */
function msPerRun(work: () => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    let runs = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < 20) {
      work();
      runs++;
      elapsed = performance.now() - start;
    }
    best = Math.min(best, elapsed / runs);
  }
  return best;
}

/**
 * How much longer `big` takes than `small`, measured up to three times while it looks
 * too long: on a shared machine one measurement can catch another process's burst.
 */
function slowdown(small: () => void, big: () => void, limit: number): [number, number, number] {
  let best: [number, number, number] = [Infinity, 0, 0];
  for (let attempt = 0; attempt < 3 && best[0] >= limit; attempt++) {
    const [a, b] = [msPerRun(small), msPerRun(big)];
    if (b / a < best[0]) best = [b / a, a, b];
  }
  return best;
}

/** `unit` repeated to `length` characters, as one flat string (`repeat` may build a rope). */
function repeated(unit: string, length: number): string {
  const text = unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
  return new TextDecoder().decode(new TextEncoder().encode(text));
}

/**
 * Asserts that `scan` of `unit` repeated grows linearly from 16 KiB to `upTo`; it stops at
 * the first step that grows faster, so that a quadratic scan fails in seconds, not hours.
 */
function assertLinear(unit: string, scan: (text: string) => unknown, upTo: number): void {
  for (let n = 16 * 1024; n * 4 <= upTo; n *= 4) {
    const [small, big] = [repeated(unit, n), repeated(unit, n * 4)];
    const [ratio, before, after] = slowdown(() => scan(small), () => scan(big), MAX_RATIO);
    assert.ok(
      ratio < MAX_RATIO,
      `${JSON.stringify(unit.slice(0, 40))} repeated: ${n} -> ${n * 4} characters took ` +
        `${before.toFixed(2)} -> ${after.toFixed(2)} ms (x${ratio.toFixed(1)}): super-linear`,
    );
  }
}

/** What the log formatters do with a line: every pattern over the whole of it. */
const scanLine = (text: string) => patterns.reduce((t, p) => t.replaceAll(p.pattern, "x"), text);

/** Units a chat member can repeat: pieces of the shapes, and runs of their characters. */
const hostileUnit = fc.oneof(
  fc.constantFrom(
    "a",
    "ha",
    "vk1.a.",
    "a1+.-",
    "a://",
    "a://b",
    "a://b:",
    "a://b:c",
    ":",
    "://:",
    "?key=",
    "&token=a",
    "whsec_",
    "config",
    SECRET.slice(0, -1),
  ),
  fc.string({
    unit: fc.constantFrom(..."a1+.-:/@?&=_ \"'vkwhsec%"),
    minLength: 1,
    maxLength: 12,
  }),
);

Deno.test("every redaction pattern is linear in its input, up to 1 MiB of hostile text", () => {
  fc.assert(
    fc.property(hostileUnit, (unit) => assertLinear(unit, scanLine, MIB)),
    { numRuns: 25 },
  );
});

Deno.test("a redactor scans at most MAX_REDACTED_CHARS of a text, and cuts no secret in two", () => {
  const phrase = "a pass phrase, with spaces";
  const redactor = createRedactor([SECRET, phrase]);
  fc.assert(
    fc.property(hostileUnit, (unit) => {
      assertLinear(unit, redactor.text, MAX_REDACTED_CHARS);
      const [atMost, huge] = [repeated(unit, MAX_REDACTED_CHARS), repeated(unit, MIB)];
      const limit = MAX_RATIO / 2;
      const [ratio, small, big] = slowdown(
        () => redactor.text(atMost),
        () => redactor.text(huge),
        limit,
      );
      assert.ok(
        ratio < limit,
        `${JSON.stringify(unit)} repeated: ${MAX_REDACTED_CHARS} -> ${MIB} characters took ` +
          `${small.toFixed(2)} -> ${big.toFixed(2)} ms: not bounded`,
      );
    }),
    { numRuns: 10 },
  );
  const secrets = [SECRET, phrase, "vk1.a.abcdefghijklmnopqrstuvwxyz", "whsec_c2VjcmV0LWtleQ=="];
  for (const [secret, before] of secrets.flatMap((s) => [[s, ""], [s, " "]] as const)) {
    for (let shift = 0; shift <= secret.length; shift++) {
      const text = "x".repeat(MAX_REDACTED_CHARS - shift - before.length) + before + secret +
        "y".repeat(100);
      const shown = redactor.text(text);
      assert.ok(shown.length < MAX_REDACTED_CHARS + 100, "cut");
      assert.match(shown, /more characters not shown\]$/);
      const visible = shown.replace(/…\[\d+ more characters not shown\]$/, "").replaceAll(
        REDACTED,
        "",
      );
      for (let k = 4; k <= secret.length; k++) {
        assert.ok(!visible.endsWith(secret.slice(0, k)), `a part of ${secret} shows at ${shift}`);
      }
    }
  }
});
