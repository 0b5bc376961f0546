/**
 * `deno task serve:local`: the serverless worker tried with no Upstash account, over a
 * local gateway and a private redis-server that stop with it.
 */
import assert from "node:assert/strict";
import { waitFor } from "./support/wait.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("deno task serve:local serves the worker over a local gateway and a private Redis", async () => {
  const secret = "local-callback-secret-0123";
  const token = "local-status-token-0123456";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "serve:local"],
    cwd: ROOT,
    env: {
      PORT: "0",
      VK_GROUP_ID: "42",
      VK_CALLBACK_SECRET: secret,
      STATUS_TOKEN: token,
      NO_COLOR: "1",
      // A Redis of the caller's that must not be touched (nothing listens there).
      REDIS_URL: "redis://127.0.0.1:1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) out += chunk;
  }));
  try {
    await waitFor(() => /Listening on http:\/\/127\.0\.0\.1:\d+/.test(out), "the worker", 30_000);
    const url = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const redisUrl = /a private redis-server \((redis:\/\/[^)]+)\)/.exec(out)![1]!;
    assert.match(out, /VK_CALLBACK_CONFIRMATION=local-confirmation \(a default for this run\)/);
    assert.doesNotMatch(out, /VK_CALLBACK_SECRET=|STATUS_TOKEN=/, "given values are not defaulted");
    const post = (body: unknown) =>
      fetch(`${url}/callback`, { method: "POST", body: JSON.stringify(body) })
        .then(async (r) => [r.status, await r.text()]);
    assert.deepEqual(await post({ type: "confirmation", group_id: 42 }), [
      200,
      "local-confirmation",
    ]);
    assert.deepEqual(
      await post({
        type: "message_new",
        event_id: "local-1",
        group_id: 42,
        secret,
        object: { message: { from_id: 7, peer_id: 7, text: "hi", conversation_message_id: 1 } },
      }),
      [200, "ok"],
    );
    const status = await (await fetch(`${url}/api/status`, {
      headers: { authorization: `Bearer ${token}` },
    })).json();
    assert.deepEqual(status.recent_events.map((e: { event_type: string }) => e.event_type), [
      "message_new",
    ]);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0, out);
    // The private Redis went with it.
    const { port } = new URL(redisUrl);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: Number(port) }));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await reading;
  }
});
