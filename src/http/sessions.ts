/**
 * Status-page login sessions: a random id (32 bytes from the system's CSPRNG) in an
 * HttpOnly cookie, kept server-side in the state store until it expires or the user logs
 * out. The store never sees the id itself, only an HMAC of it keyed by `STATUS_TOKEN`:
 * reading the store yields no usable cookie, and changing the token ends every session.
 * @module
 */
import { createHmac, randomBytes } from "node:crypto";
import type { StateStore } from "../store/state_store.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "vk_router_session";

/** How long a login lasts by default: a working day. */
export const DEFAULT_SESSION_TTL_MS = 12 * 3600 * 1000;

/** What sessions need from the state store. */
export type SessionStore = Pick<StateStore, "putSession" | "hasSession" | "deleteSession">;

/** Options for {@linkcode createSessions}. */
export interface SessionOptions {
  store: SessionStore;
  /** `STATUS_TOKEN`: keys the HMAC under which sessions are stored. */
  token: string;
  /** @default DEFAULT_SESSION_TTL_MS */
  ttlMs?: number;
}

/** Starts, checks and ends sessions. */
export interface Sessions {
  /** Lifetime of a session, for the cookie's `Max-Age`. */
  readonly ttlMs: number;
  /** Starts a session and returns its id, the cookie value. */
  start(): Promise<string>;
  /** Whether `id` names a live session; false for anything malformed, without a lookup. */
  isValid(id: string | undefined): Promise<boolean>;
  /** Ends the session named by `id`, if any. */
  end(id: string | undefined): Promise<void>;
}

/** A session id as this module writes it: 32 bytes, base64url without padding. */
const ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Creates the session manager.
 *
 * @example
 * ```ts
 * const sessions = createSessions({ store, token: config.statusToken });
 * const id = await sessions.start(); // set as an HttpOnly cookie
 * await sessions.isValid(id); // true until it expires or `end(id)`
 * ```
 */
export function createSessions(options: SessionOptions): Sessions {
  const { store, token } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  const key = (id: string) => createHmac("sha256", token).update(id).digest("base64url");
  return {
    ttlMs,
    async start() {
      const id = randomBytes(32).toString("base64url");
      await store.putSession(key(id), ttlMs);
      return id;
    },
    async isValid(id) {
      return id !== undefined && ID.test(id) && await store.hasSession(key(id));
    },
    async end(id) {
      if (id !== undefined && ID.test(id)) await store.deleteSession(key(id));
    },
  };
}
