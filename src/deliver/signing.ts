/**
 * Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed
 * with the secret's bytes. A secret is base64 (standard alphabet, padded), optionally
 * prefixed `whsec_`, of 24 to 64 bytes, as the specification asks; anything else is refused
 * at start (so signing never meets a secret it cannot decode). `webhook-id` is the event
 * id when the specification allows it, else an id derived from it ({@linkcode webhookId}).
 * @module
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The key bytes of a secret, or why it is not one (never quoting it): the `whsec_` prefix
 * is optional, the rest strict base64 of 24 to 64 bytes.
 */
export function webhookSecretKey(secret: string): Uint8Array<ArrayBuffer> | string {
  const encoded = secret.startsWith("whsec_") ? secret.slice(6) : secret;
  if (!BASE64.test(encoded)) {
    return "expected a Standard Webhooks secret: base64 (A-Z a-z 0-9 + /, padded with =), optionally prefixed whsec_";
  }
  const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
  if (bytes.length < 24 || bytes.length > 64) {
    return `expected a Standard Webhooks secret of 24 to 64 bytes, found ${bytes.length} bytes`;
  }
  return bytes;
}

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    const raw = webhookSecretKey(secret);
    if (typeof raw === "string") throw new Error(`Cannot sign: ${raw}`);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}

/** The `webhook-signature` header value for a message. */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(`${id}.${timestamp}.${body}`),
  );
  return `v1,${btoa(String.fromCharCode(...new Uint8Array(mac)))}`;
}

/** Ids sent as they are: the characters the specification allows, of a sane length. */
const PLAIN_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The `webhook-id` of an event: its id when made of `[A-Za-z0-9_-]` (VK's are hex), else
 * `sha256_` + the first 32 hex digits of the SHA-256 of its UTF-8 bytes: ASCII, stable
 * across retries and replicas, and never equal to a plain id of VK's.
 */
export async function webhookId(eventId: string): Promise<string> {
  if (PLAIN_ID.test(eventId)) return eventId;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(eventId)));
  return `sha256_${[...hash.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
