// deno-lint-ignore-file no-console -- an example whose output is the events it prints
/**
 * A receiver of a `webhook` destination that checks every request before it trusts it:
 * the Standard Webhooks signature (`webhook-signature`, HMAC-SHA256 of
 * `webhook-id.webhook-timestamp.body` with the destination's `secret`), a timestamp within
 * five minutes of now (the library's check: an old request replayed is refused), and each
 * `webhook-id` once (the router retries until it gets a 2xx, so the same event may come
 * again; its id stays the same). It prints each new event as one JSON line and answers 204;
 * a bad signature gets 401 and is not printed.
 *
 *     WEBHOOK_SECRET=whsec_... PORT=8787 deno run --allow-net --allow-env examples/webhook_consumer.ts
 *
 * and in the routes file: `{ "kind": "webhook", "url": "http://127.0.0.1:8787/hook",
 * "secret": "whsec_..." }`. It prints `Listening on http://host:port/` to stderr first.
 * Ctrl-C (or SIGTERM) stops it.
 * @module
 */
import { Webhook } from "standardwebhooks";

const secret = Deno.env.get("WEBHOOK_SECRET");
if (!secret) {
  console.error("error: WEBHOOK_SECRET: required: the destination's secret (whsec_...)");
  Deno.exit(2);
}
const webhook = new Webhook(secret);
/** Ids already handled. A real consumer keeps them where they survive a restart (a table). */
const seen = new Set<string>();

const server = Deno.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8787),
  onListen: ({ hostname, port }) => console.error(`Listening on http://${hostname}:${port}/`),
}, async (request) => {
  if (request.method !== "POST") return new Response("POST only", { status: 405 });
  const body = await request.text();
  let event: { event_id: string; event_type: string };
  try {
    event = webhook.verify(body, Object.fromEntries(request.headers)) as typeof event;
  } catch {
    return new Response("bad signature", { status: 401 });
  }
  const id = request.headers.get("webhook-id")!;
  if (!seen.has(id)) {
    seen.add(id);
    console.log(JSON.stringify(event));
  }
  return new Response(null, { status: 204 });
});

const stop = () => server.shutdown();
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await server.finished;
