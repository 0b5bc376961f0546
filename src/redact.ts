/**
 * Redaction, the one place that knows what a secret looks like: the configured secret
 * values (tokens, keys, passwords) and shapes that are secret whatever their value (a VK
 * token, a `whsec_` key, a long-poll key, a password in a Redis URL). Pure functions, so
 * the log formatters and every HTTP answer (status page, `/api/status`, `/readyz`,
 * `/metrics`) redact the same way.
 * @module
 */

/** What replaces a secret. */
export const REDACTED = "[REDACTED]";

/** A pattern and its replacement; the shape LogTape's `redactByPattern` takes (global flag). */
export interface RedactionPattern {
  pattern: RegExp;
  replacement: string;
}

/** Secret values shorter than this are not searched for: they would mangle ordinary text. */
const MIN_SECRET_LENGTH = 4;

/** Values up to this long may be shown: every secret the router takes is longer. */
const SHOWN_MAX = 15;

/**
 * How an error line shows an offending value: whole only when it is too short to be a
 * secret, else by its length only.
 */
export function shown(value: unknown): string {
  const text = String(value);
  return text.length <= SHOWN_MAX
    ? text
    : `a ${text.length}-character value (not shown: it may be a secret)`;
}

/** The longest host an error line shows of an offending URL. */
const SHOWN_HOST_MAX = 64;

/**
 * How an error line shows an offending URL: its scheme and host when the host is short
 * enough (else as {@linkcode shown}), never its user info, path or query.
 */
export function shownUrl(value: unknown): string {
  const text = String(value);
  const url = /^([a-z][a-z0-9+.-]{0,31}:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/is.exec(text);
  if (!url || url[3]!.length > SHOWN_HOST_MAX) return shown(text);
  const [, scheme, userInfo, host, rest] = url;
  return `${scheme}${userInfo ? `${REDACTED}@` : ""}${host}${rest ? "/…" : ""}`;
}

/** The password of a URL's user info, decoded; null when it has none or does not parse. */
export function urlPassword(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const password = new URL(url).password;
  if (password === "") return null;
  try {
    return decodeURIComponent(password);
  } catch {
    return password;
  }
}

/** The distinct strings long enough to search for. */
export function distinctSecrets(values: readonly (string | null | undefined)[]): string[] {
  return [
    ...new Set(
      values.filter((s): s is string => typeof s === "string" && s.length >= MIN_SECRET_LENGTH),
    ),
  ];
}

/**
 * Shapes that are secret whatever their value. Each runs in time linear in its input (they
 * see every string of every log line and answer, and chat members write those strings):
 * every match starts at a literal (`vk1.a.`, `whsec_`, `?key=`, `://`), so no start
 * position rescans a run of characters, and what follows a start ends at a character that
 * a later start needs (`&`, `/`), so no character is scanned by more than a bounded number
 * of starts. A URL's scheme is checked behind its `://`, at most 32 characters back.
 */
const SHAPES: readonly RedactionPattern[] = [
  { pattern: /vk1\.a\.[A-Za-z0-9_-]{10,}/g, replacement: REDACTED },
  { pattern: /whsec_[A-Za-z0-9+/=]{8,}/g, replacement: REDACTED },
  { pattern: /([?&](?:key|access_token|token)=)[^&\s"']+/g, replacement: `$1${REDACTED}` },
  // User info of any URL: `redis://default:pw@host`, `https://user:pw@host`.
  {
    pattern: /:\/\/(?<=[a-z][a-z0-9+.-]{0,31}:\/\/)([^:/@\s"']*:)[^@\s"'/]+@/gi,
    replacement: `://$1${REDACTED}@`,
  },
];

/**
 * The longest text redaction scans; past it a text is cut (and says so). Far above any
 * string the router shows or logs in one piece (a VK message is at most 4,096 characters),
 * so that only hostile input is cut, and an answer's cost stays bounded whatever it holds.
 */
export const MAX_REDACTED_CHARS = 64 * 1024;

/** How far before the cut a secret's shape may begin and still be cut off whole. */
const CUT_LOOKBACK = 1024;

/**
 * The first `MAX_REDACTED_CHARS` of `text`, ended before anything that may be a secret cut
 * in two (its first part would escape the patterns): the shapes never hold white space or
 * quotes, so the text ends at the last of those near the cut, or `CUT_LOOKBACK` before it;
 * and a configured secret whose beginning ends the text goes too.
 */
function cut(text: string, secrets: readonly string[]): string {
  let head = text.slice(0, MAX_REDACTED_CHARS);
  const tail = head.slice(-CUT_LOOKBACK);
  const last = /[\s"'][^\s"']*$/.exec(tail);
  head = head.slice(0, head.length - (last ? tail.length - last.index - 1 : tail.length));
  for (const secret of secrets) {
    for (let k = Math.min(secret.length - 1, head.length); k > 0; k--) {
      if (head.endsWith(secret.slice(0, k))) {
        head = head.slice(0, head.length - k);
        break;
      }
    }
  }
  return `${head}…[${text.length - head.length} more characters not shown]`;
}

/** Patterns for the given secrets, plus the shapes that are secret whatever their value. */
export function redactionPatterns(secrets: readonly string[]): RedactionPattern[] {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return [
    // Longest first, so a secret that contains another is replaced whole.
    ...distinctSecrets(secrets).sort((a, b) => b.length - a.length).map((s) => ({
      pattern: new RegExp(escape(s), "g"),
      replacement: REDACTED,
    })),
    // Percent-encoded too, as a password appears in a URL.
    ...distinctSecrets(secrets).filter((s) => encodeURIComponent(s) !== s).map((s) => ({
      pattern: new RegExp(escape(encodeURIComponent(s)), "g"),
      replacement: REDACTED,
    })),
    ...SHAPES,
  ];
}

/** Replaces every match of `patterns` in `text`; a text longer than `MAX_REDACTED_CHARS` is cut first. */
export function redact(
  text: string,
  patterns: readonly RedactionPattern[],
  secrets: readonly string[] = [],
): string {
  const scanned = text.length > MAX_REDACTED_CHARS ? cut(text, secrets) : text;
  return patterns.reduce(
    (t, { pattern, replacement }) => t.replace(pattern, replacement),
    scanned,
  );
}

/** A redactor for text and for JSON-like values (every string inside, keys included). */
export interface Redactor {
  text(text: string): string;
  value<T>(value: T): T;
}

/** Builds a {@linkcode Redactor} for the given secret values. */
export function createRedactor(secrets: readonly string[]): Redactor {
  const patterns = redactionPatterns(secrets);
  const known = distinctSecrets(secrets);
  const text = (t: string) => redact(t, patterns, known);
  const value = (v: unknown): unknown => {
    if (typeof v === "string") return text(v);
    if (Array.isArray(v)) return v.map(value);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [text(k), value(x)]));
    }
    return v;
  };
  return { text, value: <T>(v: T) => value(v) as T };
}
