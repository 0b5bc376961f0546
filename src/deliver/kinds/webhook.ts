/**
 * Webhook destinations: a POST of the event's JSON per event, signed per Standard
 * Webhooks when a secret is set. `webhook-id` is derived from the event id (`signing.ts`),
 * stable across retries, so receivers can deduplicate; the router itself does too: with
 * the state store's delivery markers, an event delivered once (VK redelivering a
 * callback, long poll and callback both on) is not posted again. Redirects are never
 * followed: a 3xx is dead-lettered with reason `redirect` and where it pointed.
 * @module
 */
import * as v from "valibot";
import { shownUrl } from "../../redact.ts";
import { describeFetchError } from "../../vk/api.ts";
import { errorMessage } from "../../errors.ts";
import { type BaseDestination, defineKind, type DeliveryMarkers } from "./kind.ts";
import { signWebhook, webhookId, webhookSecretKey } from "../signing.ts";
import { DEDUP_TTL_S } from "./redis_once.ts";
import type { Delivery, Outcome, Sink } from "../types.ts";
import { defaultTimeoutSignal, type TimeoutSignal } from "../../util/timeouts.ts";

/** Options for {@linkcode createWebhookSink}. */
export interface WebhookSinkOptions {
  name: string;
  url: string;
  secret: string | null;
  timeoutMs: number;
  fetch?: typeof fetch;
  /** Seconds since the epoch, for `webhook-timestamp`. */
  now?: () => number;
  /** Requests in flight at once. @default 8 */
  concurrency?: number;
  /** @default AbortSignal.timeout */
  timeoutSignal?: TimeoutSignal;
  /** Where delivered events are marked, so that none is posted twice; absent: no markers. */
  markers?: DeliveryMarkers;
}

/** Creates a webhook sink. */
export function createWebhookSink(options: WebhookSinkOptions): Sink {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const concurrency = options.concurrency ?? 8;
  const timeoutSignal = options.timeoutSignal ?? defaultTimeoutSignal;
  /** The URL as errors show it: scheme and host, never the path or query, which may hold a token. */
  const target = shownUrl(options.url);

  async function post(item: Delivery): Promise<Outcome> {
    const timestamp = now();
    const id = await webhookId(item.eventId);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
    };
    if (options.secret) {
      headers["webhook-signature"] = await signWebhook(options.secret, id, timestamp, item.body);
    }
    let response: Response;
    try {
      response = await doFetch(options.url, {
        method: "POST",
        headers,
        body: item.body,
        redirect: "manual",
        signal: timeoutSignal(options.timeoutMs),
      });
    } catch (error) {
      return { status: "retry", error: `POST ${target} failed: ${describeFetchError(error)}` };
    }
    const s = response.status;
    if (s >= 200 && s < 300) {
      await response.body?.cancel();
      return { status: "delivered" };
    }
    if (s >= 300 && s < 400) {
      await response.body?.cancel();
      const location = redirectTarget(response.headers.get("location"), options.url);
      return {
        status: "dead",
        reason: "redirect",
        error: `HTTP ${s} from ${target}: redirect to ${location}, not followed`,
        httpStatus: s,
        location,
      };
    }
    // What the receiver said, bounded: a status alone rarely tells why.
    const said = await bodyStart(response, BODY_SHOWN_BYTES);
    const error = `HTTP ${s} from ${target}${said ? `: ${said}` : ""}`;
    if (s === 408 || s === 429 || s >= 500) {
      const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"));
      return {
        status: "retry",
        error,
        httpStatus: s,
        ...(retryAfterMs !== null ? { retryAfterMs } : {}),
      };
    }
    return { status: "dead", error, httpStatus: s };
  }

  /** Posts every item, `concurrency` at a time; one outcome per item. */
  async function postAll(items: readonly Delivery[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        outcomes[i] = await post(items[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
    return outcomes;
  }

  const markers = options.markers;
  return {
    name: options.name,
    kind: "webhook",
    async deliver(items, unit) {
      if (!markers || items.length === 0) return await postAll(items);
      // A claim outlives the whole batch's posts, in waves of `concurrency`.
      const claimMs = options.timeoutMs * Math.ceil(items.length / concurrency) + 30_000;
      let claims;
      try {
        claims = await markers.claimDeliveries(options.name, items.map((i) => i.eventId), claimMs);
      } catch (error) {
        const outcome: Outcome = {
          status: "retry",
          error: `cannot read the delivery markers: ${errorMessage(error)}`,
        };
        return items.map(() => outcome);
      }
      const claimed = items.filter((_, i) => claims[i] === "claimed");
      const posted = await postAll(claimed);
      const settled = claimed.map((item, i) => ({
        eventId: item.eventId,
        delivered: posted[i]!.status === "delivered",
      }));
      // Not settling leaves the claims to expire: a later attempt posts again, never loses.
      // While the unit waits for this sink (the worker's), the markers travel in it.
      await markers.settleDeliveries(
        options.name,
        settled,
        DEDUP_TTL_S,
        ...(unit?.late ? [unit] : []),
      ).catch(() => {});
      let p = 0;
      return claims.map((claim): Outcome =>
        claim === "claimed"
          ? posted[p++]!
          : claim === "delivered"
          ? { status: "delivered", duplicate: true }
          : { status: "retry", error: "another attempt is delivering this event" }
      );
    },
  };
}

/** How much of a refusal's body an error shows. */
export const BODY_SHOWN_BYTES = 200;

/**
 * The first `max` bytes of a body as one line of text ("" when empty or unreadable): read
 * no further, so a huge or endless answer costs nothing.
 */
async function bodyStart(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // what arrived is enough
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.length) - c.length);
  const text = new TextDecoder().decode(bytes.subarray(0, max)).replace(/\s+/g, " ").trim();
  return size > max ? `${text}…` : text;
}

/**
 * Where a redirect pointed, safe to keep and log: scheme, host and path of `location`
 * (resolved against the webhook's URL), without credentials, query or fragment.
 */
export function redirectTarget(location: string | null, base: string): string {
  if (location === null) return "(no Location header)";
  if (!URL.canParse(location, base)) return "(an unreadable Location header)";
  const url = new URL(location, base);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === "") return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

const WebhookSchema = v.strictObject({
  kind: v.literal("webhook"),
  url: v.pipe(
    v.string(),
    v.check(
      (s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol),
      "expected an http(s) URL",
    ),
  ),
  secret_env: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected a variable name")),
  ),
  timeout_ms: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(120_000)),
    5_000,
  ),
});

/** A webhook destination, its signing secret resolved from the environment. */
export interface WebhookDestination extends BaseDestination<"webhook"> {
  url: string;
  secret: string | null;
  timeoutMs: number;
}

/** `{"kind": "webhook", "url": ..., "secret_env": ..., "timeout_ms": ...}` */
export const webhookKind = defineKind<
  "webhook",
  v.InferOutput<typeof WebhookSchema>,
  WebhookDestination
>({
  kind: "webhook",
  schema: WebhookSchema,
  connection: null,
  resolve(raw, { name, path, env, problems }) {
    let secret: string | null = null;
    if (raw.secret_env !== undefined) {
      secret = env[raw.secret_env] ?? null;
      const invalid = secret ? webhookSecretKey(secret) : null;
      if (!secret) {
        problems.push(`${path}.secret_env: environment variable ${raw.secret_env} is not set`);
      } else if (typeof invalid === "string") {
        problems.push(`${path}.secret_env: environment variable ${raw.secret_env}: ${invalid}`);
      }
    }
    return { kind: "webhook", name, url: raw.url, secret, timeoutMs: raw.timeout_ms };
  },
  secrets: (d) => d.secret ? [d.secret] : [],
  check: () => [],
  createSink: (d, context) =>
    createWebhookSink({
      name: d.name,
      url: d.url,
      secret: d.secret,
      timeoutMs: Math.min(d.timeoutMs, context.maxHttpTimeoutMs ?? Infinity),
      ...(context.fetch ? { fetch: context.fetch } : {}),
      ...(context.timeoutSignal ? { timeoutSignal: context.timeoutSignal } : {}),
      ...(context.markers ? { markers: context.markers } : {}),
    }),
});
