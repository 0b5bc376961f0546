/**
 * The service's configuration, parsed once at the edge (`main.ts`) from the environment.
 * One valibot schema turns raw variables into a fully defaulted, typed {@linkcode Config};
 * every problem becomes one line of a {@linkcode ConfigError}. No token value is ever
 * echoed in a message.
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../errors.ts";

/** A community the router serves, with the token used for its long poll and VK API calls. */
export interface Community {
  groupId: number;
  /** Null only in callback-only mode (`VK_LONGPOLL=off`) without a token: no enrichment then. */
  token: string | null;
}

/** Where Redis lives: Upstash over REST, or a native `redis://` server. */
export type RedisConnection =
  | { kind: "upstash"; url: string; token: string }
  | { kind: "native"; url: string };

/** The fully defaulted configuration. */
export interface Config {
  communities: Community[];
  vk: {
    apiUrl: string;
    apiVersion: string;
    longPoll: boolean;
    /** Seconds the poll server may hold a request, 1..90. */
    wait: number;
    /** How long past `wait` an `a_check` may take before it is aborted. */
    graceMs: number;
  };
  callback: { confirmation: string | null; secret: string | null };
  routesFile: string | null;
  commandPrefixes: string[];
  timezone: string;
  redis: RedisConnection | null;
  redisPrefix: string;
  redisTimeoutMs: number;
  /** Seconds between delivery attempts; the last value repeats. */
  retryScheduleS: number[];
  /** How long enrichment may hold a batch. */
  enrichDeadlineMs: number;
  /** How long a graceful stop may take before the process gives up with exit code 1. */
  shutdownTimeoutMs: number;
  dataDir: string;
  host: string;
  port: number;
  statusToken: string | null;
  log: { level: LogLevel; format: "pretty" | "json" | null; dir: string | null };
  /** Names this process in leases and on the status page (`INSTANCE_ID`, or host name plus a random suffix). */
  instanceId: string;
  /** How long a community's lease in Redis lasts without renewal (`LEASE_TTL_S`). */
  leaseTtlMs: number;
}

/** Log levels operators may choose. */
export type LogLevel = "debug" | "info" | "warning" | "error";

const nonEmpty = (name: string) =>
  v.pipe(v.string(), v.trim(), v.nonEmpty(`${name}: must not be empty`));

function intIn(name: string, min: number, max: number, fallback: number) {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(
        /^\d+$/,
        (i) => `${name}: expected a whole number from ${min} to ${max}, got ${i.input}`,
      ),
      v.transform(Number),
      v.minValue(
        min,
        (i) => `${name}: expected a whole number from ${min} to ${max}, got ${i.input}`,
      ),
      v.maxValue(
        max,
        (i) => `${name}: expected a whole number from ${min} to ${max}, got ${i.input}`,
      ),
    ),
    String(fallback),
  );
}

function onOff(name: string, fallback: "on" | "off") {
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(
        ["on", "off", "true", "false", "1", "0"],
        (i) => `${name}: expected on or off, got ${i.input}`,
      ),
      v.transform((s) => s === "on" || s === "true" || s === "1"),
    ),
    fallback,
  );
}

function httpUrl(name: string) {
  return v.pipe(
    v.string(),
    v.trim(),
    v.check(
      (s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol),
      (i) => `${name}: expected an http(s) URL, got ${i.input}`,
    ),
    v.transform((s) => s.replace(/\/+$/, "")),
  );
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What an `INSTANCE_ID` may hold: it is shown on the page and stored in Redis. */
const INSTANCE_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,100}$/;

/** The host name (from `HOSTNAME`, which containers set) plus a random suffix: unique per process. */
function defaultInstanceId(hostname: string | undefined): string {
  const host = (hostname ?? "").replace(/[^A-Za-z0-9._:@-]/g, "").slice(0, 80) || "vk-router";
  return `${host}-${crypto.randomUUID().slice(0, 6)}`;
}

const EnvSchema = v.object({
  VK_TOKEN: v.optional(nonEmpty("VK_TOKEN")),
  VK_GROUP_ID: v.pipe(
    v.string("VK_GROUP_ID: expected a community id"),
    v.trim(),
    v.regex(
      /^\d+(\s*,\s*\d+)*$/,
      (i) =>
        `VK_GROUP_ID: expected a community id or a comma-separated list of them, got ${i.input}`,
    ),
    v.transform((s) => [...new Set(s.split(",").map((id) => Number(id.trim())))]),
    v.check((ids) => ids.every((id) => id > 0), "VK_GROUP_ID: community ids are positive numbers"),
  ),
  VK_API_URL: v.optional(httpUrl("VK_API_URL"), "https://api.vk.ru/method"),
  VK_API_VERSION: v.optional(
    v.pipe(v.string(), v.regex(/^\d+\.\d+$/, "VK_API_VERSION: expected a version such as 5.199")),
    "5.199",
  ),
  VK_LONGPOLL: onOff("VK_LONGPOLL", "on"),
  VK_LONGPOLL_WAIT: intIn("VK_LONGPOLL_WAIT", 1, 90, 25),
  VK_LONGPOLL_GRACE_MS: intIn("VK_LONGPOLL_GRACE_MS", 100, 120_000, 10_000),
  VK_CALLBACK_CONFIRMATION: v.optional(nonEmpty("VK_CALLBACK_CONFIRMATION")),
  VK_CALLBACK_SECRET: v.optional(nonEmpty("VK_CALLBACK_SECRET")),
  ROUTES_FILE: v.optional(nonEmpty("ROUTES_FILE")),
  COMMAND_PREFIXES: v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(",").map((p) => p.trim()).filter((p) => p !== "")),
      v.minLength(1, "COMMAND_PREFIXES: expected at least one prefix, such as /,!"),
    ),
    "/,!",
  ),
  EVENT_TIMEZONE: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.check(
        isTimeZone,
        (i) => `EVENT_TIMEZONE: expected an IANA time zone such as Europe/Moscow, got ${i.input}`,
      ),
    ),
    "Europe/Moscow",
  ),
  REDIS_URL: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.check(
        (s) => URL.canParse(s) && /^rediss?:$/.test(new URL(s).protocol),
        "REDIS_URL: expected a redis:// or rediss:// URL",
      ),
    ),
  ),
  UPSTASH_REDIS_REST_URL: v.optional(httpUrl("UPSTASH_REDIS_REST_URL")),
  UPSTASH_REDIS_REST_TOKEN: v.optional(nonEmpty("UPSTASH_REDIS_REST_TOKEN")),
  REDIS_PREFIX: v.optional(v.string(), "vk-router:"),
  REDIS_TIMEOUT_MS: intIn("REDIS_TIMEOUT_MS", 50, 120_000, 5_000),
  RETRY_SCHEDULE_S: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/,
        (i) =>
          `RETRY_SCHEDULE_S: expected comma-separated seconds such as 5,300,1800, got ${i.input}`,
      ),
      v.transform((s) => s.split(",").map(Number)),
    ),
    "5,300,1800,7200,18000,36000",
  ),
  ENRICH_DEADLINE_MS: intIn("ENRICH_DEADLINE_MS", 0, 60_000, 1_500),
  SHUTDOWN_TIMEOUT_MS: intIn("SHUTDOWN_TIMEOUT_MS", 100, 600_000, 20_000),
  DATA_DIR: v.optional(nonEmpty("DATA_DIR"), "./data"),
  HOST: v.optional(nonEmpty("HOST"), "0.0.0.0"),
  PORT: intIn("PORT", 0, 65_535, 8080),
  STATUS_TOKEN: v.optional(nonEmpty("STATUS_TOKEN")),
  LOG_LEVEL: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(
        ["debug", "info", "warning", "error"],
        (i) => `LOG_LEVEL: expected debug, info, warning or error, got ${i.input}`,
      ),
    ),
    "info",
  ),
  LOG_FORMAT: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(["pretty", "json"], (i) => `LOG_FORMAT: expected pretty or json, got ${i.input}`),
    ),
  ),
  LOG_DIR: v.optional(nonEmpty("LOG_DIR")),
  INSTANCE_ID: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(
        INSTANCE_ID_PATTERN,
        (i) => `INSTANCE_ID: expected 1 to 100 letters, digits and . _ : @ -, got ${i.input}`,
      ),
    ),
  ),
  LEASE_TTL_S: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(
        /^\d+(\.\d+)?$/,
        (i) => `LEASE_TTL_S: expected seconds from 0.5 to 3600, got ${i.input}`,
      ),
      v.transform(Number),
      v.check(
        (s) => s >= 0.5 && s <= 3600,
        (i) => `LEASE_TTL_S: expected seconds from 0.5 to 3600, got ${i.input}`,
      ),
    ),
    "10",
  ),
});

/**
 * Parses the environment into a {@linkcode Config}.
 *
 * Empty variables count as unset (a `.env` with `REDIS_URL=` means "no Redis").
 * @throws {ConfigError} listing every problem, one line each.
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ""),
  );
  const parsed = v.safeParse(EnvSchema, present);
  if (!parsed.success) throw new ConfigError(parsed.issues.map(issueLine));
  const e = parsed.output;
  const problems: string[] = [];

  const communities = e.VK_GROUP_ID.map((groupId): Community => ({
    groupId,
    token: present[`VK_TOKEN_${groupId}`] ?? e.VK_TOKEN ?? null,
  }));
  if (e.VK_LONGPOLL) {
    for (const c of communities.filter((c) => c.token === null)) {
      problems.push(
        communities.length === 1
          ? "VK_TOKEN: required for long poll: a community access token (or set VK_LONGPOLL=off and use the Callback API)"
          : `VK_TOKEN_${c.groupId}: required for long poll of community ${c.groupId} (or set VK_TOKEN for all)`,
      );
    }
  } else if (!e.VK_CALLBACK_CONFIRMATION) {
    problems.push(
      "VK_CALLBACK_CONFIRMATION: required when VK_LONGPOLL=off, or no event can arrive",
    );
  }

  let redis: RedisConnection | null = null;
  if (e.UPSTASH_REDIS_REST_URL || e.UPSTASH_REDIS_REST_TOKEN) {
    if (!e.UPSTASH_REDIS_REST_URL) {
      problems.push("UPSTASH_REDIS_REST_URL: required with UPSTASH_REDIS_REST_TOKEN");
    } else if (!e.UPSTASH_REDIS_REST_TOKEN) {
      problems.push("UPSTASH_REDIS_REST_TOKEN: required with UPSTASH_REDIS_REST_URL");
    } else {redis = {
        kind: "upstash",
        url: e.UPSTASH_REDIS_REST_URL,
        token: e.UPSTASH_REDIS_REST_TOKEN,
      };}
  } else if (e.REDIS_URL) {
    redis = { kind: "native", url: e.REDIS_URL };
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    communities,
    vk: {
      apiUrl: e.VK_API_URL,
      apiVersion: e.VK_API_VERSION,
      longPoll: e.VK_LONGPOLL,
      wait: e.VK_LONGPOLL_WAIT,
      graceMs: e.VK_LONGPOLL_GRACE_MS,
    },
    callback: {
      confirmation: e.VK_CALLBACK_CONFIRMATION ?? null,
      secret: e.VK_CALLBACK_SECRET ?? null,
    },
    routesFile: e.ROUTES_FILE ?? null,
    commandPrefixes: e.COMMAND_PREFIXES,
    timezone: e.EVENT_TIMEZONE,
    redis,
    redisPrefix: e.REDIS_PREFIX,
    redisTimeoutMs: e.REDIS_TIMEOUT_MS,
    retryScheduleS: e.RETRY_SCHEDULE_S,
    enrichDeadlineMs: e.ENRICH_DEADLINE_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    dataDir: e.DATA_DIR,
    host: e.HOST,
    port: e.PORT,
    statusToken: e.STATUS_TOKEN ?? null,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? null, dir: e.LOG_DIR ?? null },
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(present.HOSTNAME),
    leaseTtlMs: Math.round(e.LEASE_TTL_S * 1000),
  };
}

const REQUIRED_HINTS: Record<string, string> = {
  VK_GROUP_ID: "the id of your community (a positive number; a comma-separated list for several)",
};

/** Our messages already name the variable; valibot's built-in ones get the key prefixed. */
function issueLine(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.map((p) => String(p.key)).join(".") ?? "";
  if (issue.input === undefined) return `${key}: required: ${REQUIRED_HINTS[key] ?? "set it"}`;
  if (/^[A-Z_]+: /.test(issue.message)) return issue.message;
  return key ? `${key}: ${issue.message}` : issue.message;
}
