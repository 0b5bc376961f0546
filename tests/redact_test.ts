import assert from "node:assert/strict";
import { createRedactor, REDACTED } from "../src/redact.ts";

Deno.test("createRedactor() hides configured secrets and secret shapes, in text and in values", () => {
  const password = "p@ss/w0rd:long";
  const r = createRedactor(["configured-secret", "configured-secret-and-more", password, "ab"]);
  const cases: [string, string][] = [
    ["key configured-secret-and-more", `key ${REDACTED}`],
    ["url redis://default:p%40ss%2Fw0rd%3Along@h:6379", `url redis://default:${REDACTED}@h:6379`],
    ["raw p@ss/w0rd:long here", `raw ${REDACTED} here`],
    ["token vk1.a.abcdefghijklmnop_-123", `token ${REDACTED}`],
    ["hook whsec_c2VjcmV0LWtleQ==", `hook ${REDACTED}`],
    [
      "poll https://lp.vk.com/x?act=a_check&key=abc123&ts=5",
      `poll https://lp.vk.com/x?act=a_check&key=${REDACTED}&ts=5`,
    ],
    ["https://user:hunter2@host/path", `https://user:${REDACTED}@host/path`],
    ["http://host:8080/path@x stays", "http://host:8080/path@x stays"],
    ["a short ab stays: too short to search for", "a short ab stays: too short to search for"],
  ];
  for (const [input, expected] of cases) assert.equal(r.text(input), expected, input);
  assert.deepEqual(
    r.value({ n: 1, list: ["configured-secret", null], ["configured-secret"]: true }),
    { n: 1, list: [REDACTED, null], [REDACTED]: true },
  );
});
