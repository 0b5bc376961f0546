/**
 * The service's configuration, parsed once at the edge (`main.ts`) from the environment.
 * One valibot schema turns raw variables into a fully defaulted, typed {@linkcode Config};
 * every problem becomes one line of a {@linkcode ConfigError}, and every line of every
 * problem is reported in one run. No secret is ever echoed: a line shows an offending value
 * only when it is too short to be one (see {@linkcode shown}), and every line is redacted
 * of the values of the secret variables besides.
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../errors.ts";
import { CONNECTION_SPECS } from "../deliver/kinds/registry.ts";
import type { RedisConnection } from "../redis/connection.ts";
import {
  distinctSecrets,
  redact,
  redactionPatterns,
  shown,
  shownUrl,
  urlPassword,
} from "../redact.ts";

/** The shortest `STATUS_TOKEN` and `VK_CALLBACK_SECRET` accepted: long enough not to guess. */
export const MIN_SECRET_LENGTH = 16;

/** A community the router serves, with the token used for its long poll and VK API calls. */
export interface Community {
  groupId: number;
  /** Null only in callback-only mode (`VK_LONGPOLL=off`) without a token: no enrichment then. */
  token: string | null;
}

/**
 * Events in flight per community by default: three full poll answers, enough to overlap
 * polling, preparing and delivering; more only lengthens the queue an event waits in when
 * the router is busy. Small answers (a quiet stream) still overlap eight at a time.
 */
export const DEFAULT_IN_FLIGHT = 300;

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
    /**
     * Events of a community in flight at once (polled, not yet delivered): the work that
     * overlaps, and what an event may wait behind.
     */
    maxEventsInFlight: number;
  };
  callback: {
    confirmation: string | null;
    /** Null only with the explicit opt-out `VK_CALLBACK_INSECURE_NO_SECRET` (or no callback). */
    secret: string | null;
    /** `VK_CALLBACK_INSECURE_NO_SECRET`: unsigned callbacks accepted, with a warning at start. */
    insecureNoSecret: boolean;
  };
  routesFile: string | null;
  commandPrefixes: string[];
  timezone: string;
  /**
   * The configured connections of the destination kinds, by spec name (`redis`, ...): what
   * each `ConnectionSpec.configure` read. Only configured ones are present.
   */
  connections: Readonly<Record<string, unknown>>;
  /** The Redis connection, when configured: the state store keeps its state there too. */
  redis: RedisConnection | null;
  redisPrefix: string;
  redisTimeoutMs: number;
  /** Seconds between delivery attempts; the last value repeats. */
  retryScheduleS: number[];
  /** How long enrichment may hold a batch. */
  enrichDeadlineMs: number;
  /** Names (users, communities, chats) cached per token (the communities it serves share them) at most. */
  enrichCacheMax: number;
  /** How long a graceful stop may take before the process gives up with exit code 1. */
  shutdownTimeoutMs: number;
  dataDir: string;
  host: string;
  port: number;
  statusToken: string | null;
  /** How long a status-page login lasts. */
  sessionTtlS: number;
  /** Honour `X-Forwarded-Proto` / `-For` / `-Host`: the service runs behind a reverse proxy. */
  trustProxy: boolean;
  /** The long-running service's connection bounds (`src/http/server.ts`). */
  http: {
    /** `HTTP_MAX_CONNECTIONS`: open client connections at most. */
    maxConnections: number;
    /** `HTTP_MAX_CONNECTIONS_PER_ADDRESS`: per client address, unless behind `TRUST_PROXY`. */
    maxConnectionsPerAddress: number;
    /** `HTTP_IDLE_TIMEOUT_MS`: a connection without a request in progress is closed after this. */
    idleTimeoutMs: number;
  };
  log: { level: LogLevel; format: "pretty" | "json" | null; dir: string | null };
  /** Names this process in leases and on the status page (`INSTANCE_ID`, or host name plus a random suffix). */
  instanceId: string;
  /** How long a community's lease in Redis lasts without renewal (`LEASE_TTL_S`). */
  leaseTtlMs: number;
}

/** Log levels operators may choose. */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Variables whose values are secret: none of them may appear in an error line. */
const isSecretName = (name: string) =>
  /^VK_TOKEN(_\d+)?$|_(TOKEN|SECRET|PASSWORD|KEY)$/.test(name) &&
  name !== "VK_CALLBACK_INSECURE_NO_SECRET"; // a switch, not a secret

/** The secret values in `env`: the secret variables', and passwords inside URLs. */
function secretValues(env: Readonly<Record<string, string>>): string[] {
  return distinctSecrets(
    Object.entries(env).flatMap(([name, value]) => [
      isSecretName(name) ? value : null,
      isSecretName(name) ? value.trim() : null,
      urlPassword(value.trim()),
    ]),
  );
}

const nonEmpty = (name: string) =>
  v.pipe(v.string(), v.trim(), v.nonEmpty(`${name}: must not be empty`));

function intIn(name: string, min: number, max: number, fallback: number) {
  const message = (i: { input: unknown }) =>
    `${name}: expected a whole number from ${min} to ${max}, got ${shown(i.input)}`;
  return v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, message),
      v.transform(Number),
      v.minValue(min, message),
      v.maxValue(max, message),
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
        (i) => `${name}: expected on or off, got ${shown(i.input)}`,
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
      (i) => `${name}: expected an http(s) URL, got ${shownUrl(i.input)}`,
    ),
    v.transform((s) => s.replace(/\/+$/, "")),
  );
}

/** A secret the router checks requests against: long enough that guessing it is hopeless. */
function secret(name: string) {
  return v.pipe(
    nonEmpty(name),
    v.minLength(
      MIN_SECRET_LENGTH,
      (i) =>
        `${name}: must be at least ${MIN_SECRET_LENGTH} characters, got ${
          String(i.input).length
        }: generate one with openssl rand -hex 32`,
    ),
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
        `VK_GROUP_ID: expected a community id or a comma-separated list of them, got ${
          shown(i.input)
        }`,
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
  VK_LONGPOLL_IN_FLIGHT: intIn("VK_LONGPOLL_IN_FLIGHT", 1, 100_000, DEFAULT_IN_FLIGHT),
  VK_CALLBACK_CONFIRMATION: v.optional(nonEmpty("VK_CALLBACK_CONFIRMATION")),
  VK_CALLBACK_SECRET: v.optional(secret("VK_CALLBACK_SECRET")),
  VK_CALLBACK_INSECURE_NO_SECRET: onOff("VK_CALLBACK_INSECURE_NO_SECRET", "off"),
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
        (i) =>
          `EVENT_TIMEZONE: expected an IANA time zone such as Europe/Moscow, got ${shown(i.input)}`,
      ),
    ),
    "Europe/Moscow",
  ),
  REDIS_PREFIX: v.optional(v.string(), "vk-router:"),
  REDIS_TIMEOUT_MS: intIn("REDIS_TIMEOUT_MS", 50, 120_000, 5_000),
  RETRY_SCHEDULE_S: v.optional(
    v.pipe(
      v.string(),
      v.regex(
        /^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/,
        (i) =>
          `RETRY_SCHEDULE_S: expected comma-separated seconds such as 5,300,1800, got ${
            shown(i.input)
          }`,
      ),
      v.transform((s) => s.split(",").map(Number)),
    ),
    "5,300,1800,7200,18000,36000",
  ),
  ENRICH_DEADLINE_MS: intIn("ENRICH_DEADLINE_MS", 0, 60_000, 1_500),
  ENRICH_CACHE_MAX: intIn("ENRICH_CACHE_MAX", 100, 10_000_000, 50_000),
  SHUTDOWN_TIMEOUT_MS: intIn("SHUTDOWN_TIMEOUT_MS", 100, 600_000, 20_000),
  DATA_DIR: v.optional(nonEmpty("DATA_DIR"), "./data"),
  HOST: v.optional(nonEmpty("HOST"), "127.0.0.1"),
  PORT: intIn("PORT", 0, 65_535, 8080),
  STATUS_TOKEN: v.optional(
    v.pipe(
      secret("STATUS_TOKEN"),
      v.regex(
        /^[A-Za-z0-9._~+/-]+=*$/,
        "STATUS_TOKEN: use only letters, digits and - . _ ~ + / (it travels in an Authorization: Bearer header)",
      ),
    ),
  ),
  SESSION_TTL_S: intIn("SESSION_TTL_S", 60, 30 * 86_400, 12 * 3600),
  TRUST_PROXY: onOff("TRUST_PROXY", "off"),
  HTTP_MAX_CONNECTIONS: intIn("HTTP_MAX_CONNECTIONS", 1, 1_000_000, 1024),
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: intIn("HTTP_MAX_CONNECTIONS_PER_ADDRESS", 1, 1_000_000, 64),
  HTTP_IDLE_TIMEOUT_MS: intIn("HTTP_IDLE_TIMEOUT_MS", 100, 600_000, 10_000),
  LOG_LEVEL: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(
        ["debug", "info", "warning", "error"],
        (i) => `LOG_LEVEL: expected debug, info, warning or error, got ${shown(i.input)}`,
      ),
    ),
    "info",
  ),
  LOG_FORMAT: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.toLowerCase(),
      v.picklist(
        ["pretty", "json"],
        (i) => `LOG_FORMAT: expected pretty or json, got ${shown(i.input)}`,
      ),
    ),
  ),
  LOG_DIR: v.optional(nonEmpty("LOG_DIR")),
  INSTANCE_ID: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(
        INSTANCE_ID_PATTERN,
        (i) =>
          `INSTANCE_ID: expected 1 to 100 letters, digits and . _ : @ -, got ${shown(i.input)}`,
      ),
    ),
  ),
  LEASE_TTL_S: v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(
        /^\d+(\.\d+)?$/,
        (i) => `LEASE_TTL_S: expected seconds from 0.5 to 3600, got ${shown(i.input)}`,
      ),
      v.transform(Number),
      v.check(
        (s) => s >= 0.5 && s <= 3600,
        (i) => `LEASE_TTL_S: expected seconds from 0.5 to 3600, got ${shown(i.input)}`,
      ),
    ),
    "10",
  ),
});

type Env = v.InferOutput<typeof EnvSchema>;

/** Every variable the configuration reads, each checked by the same rule for what its errors show. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.entries);

/** How {@linkcode loadConfig} reads the environment for a given entry point. */
export interface LoadOptions {
  /**
   * The entry point that takes events by the Callback API only ("the serverless worker"):
   * long poll is off whatever VK_LONGPOLL says, and problems name the entry point rather
   * than a variable its user never set.
   */
  callbackOnly?: string;
}

/**
 * Parses the environment into a {@linkcode Config}.
 *
 * Empty variables count as unset (a `.env` with `REDIS_URL=` means "no Redis").
 * @throws {ConfigError} listing every problem, one line each: each variable's own, and
 * those between variables (a token the long poll needs, a secret the Callback API needs).
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  options: LoadOptions = {},
): Config {
  const present: Record<string, string> = Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] =>
      entry[1] !== undefined && entry[1].trim() !== ""
    ),
  );
  if (options.callbackOnly) present.VK_LONGPOLL = "off";
  // Each variable on its own, so that one bad value hides no other problem.
  const e: Partial<Env> = {};
  const problems: string[] = [];
  for (const [key, schema] of Object.entries(EnvSchema.entries)) {
    const parsed = v.safeParse(schema, present[key]);
    if (parsed.success) Object.assign(e, { [key]: parsed.output });
    else problems.push(...parsed.issues.map((issue) => issueLine(key, issue)));
  }
  // The destinations' connections, each read by its own spec.
  const connections: Record<string, unknown> = {};
  for (const spec of CONNECTION_SPECS) {
    const configured = spec.configure(present, problems);
    if (configured !== null) connections[spec.name] = configured;
  }

  const communities = (e.VK_GROUP_ID ?? []).map((groupId): Community => ({
    groupId,
    token: present[`VK_TOKEN_${groupId}`] ?? e.VK_TOKEN ?? null,
  }));
  if (e.VK_LONGPOLL === true) {
    const anyToken = Object.keys(present).some((k) => /^VK_TOKEN(_\d+)?$/.test(k));
    if (e.VK_GROUP_ID === undefined && !anyToken) problems.push(VK_TOKEN_REQUIRED);
    for (const c of communities.filter((c) => c.token === null)) {
      problems.push(
        communities.length === 1
          ? VK_TOKEN_REQUIRED
          : `VK_TOKEN_${c.groupId}: required for long poll of community ${c.groupId} (or set VK_TOKEN for all)`,
      );
    }
  } else if (e.VK_LONGPOLL === false && present.VK_CALLBACK_CONFIRMATION === undefined) {
    problems.push(
      options.callbackOnly
        ? `VK_CALLBACK_CONFIRMATION: required by ${options.callbackOnly}, which takes events by the Callback API only`
        : "VK_CALLBACK_CONFIRMATION: required when VK_LONGPOLL=off, or no event can arrive",
    );
  }
  if (
    present.VK_CALLBACK_CONFIRMATION !== undefined && present.VK_CALLBACK_SECRET === undefined &&
    e.VK_CALLBACK_INSECURE_NO_SECRET === false
  ) {
    problems.push(
      `VK_CALLBACK_SECRET: required with VK_CALLBACK_CONFIRMATION, or anyone can post forged events to /callback: choose a secret of at least ${MIN_SECRET_LENGTH} letters and digits, enter it in VK (Community → Manage → API usage → Callback API → Secret key) and set it here (VK_CALLBACK_INSECURE_NO_SECRET=1 accepts unsigned callbacks instead, at your own risk)`,
    );
  }

  if (problems.length > 0) {
    const patterns = redactionPatterns(secretValues(present));
    throw new ConfigError(problems.map((line) => redact(line, patterns)));
  }
  const ok = e as Env; // every variable parsed

  return {
    communities,
    vk: {
      apiUrl: ok.VK_API_URL,
      apiVersion: ok.VK_API_VERSION,
      longPoll: ok.VK_LONGPOLL,
      wait: ok.VK_LONGPOLL_WAIT,
      graceMs: ok.VK_LONGPOLL_GRACE_MS,
      maxEventsInFlight: ok.VK_LONGPOLL_IN_FLIGHT,
    },
    callback: {
      confirmation: ok.VK_CALLBACK_CONFIRMATION ?? null,
      secret: ok.VK_CALLBACK_SECRET ?? null,
      insecureNoSecret: ok.VK_CALLBACK_SECRET === undefined && ok.VK_CALLBACK_INSECURE_NO_SECRET,
    },
    routesFile: ok.ROUTES_FILE ?? null,
    commandPrefixes: ok.COMMAND_PREFIXES,
    timezone: ok.EVENT_TIMEZONE,
    connections,
    redis: (connections.redis ?? null) as RedisConnection | null,
    redisPrefix: ok.REDIS_PREFIX,
    redisTimeoutMs: ok.REDIS_TIMEOUT_MS,
    retryScheduleS: ok.RETRY_SCHEDULE_S,
    enrichDeadlineMs: ok.ENRICH_DEADLINE_MS,
    enrichCacheMax: ok.ENRICH_CACHE_MAX,
    shutdownTimeoutMs: ok.SHUTDOWN_TIMEOUT_MS,
    dataDir: ok.DATA_DIR,
    host: ok.HOST,
    port: ok.PORT,
    statusToken: ok.STATUS_TOKEN ?? null,
    sessionTtlS: ok.SESSION_TTL_S,
    trustProxy: ok.TRUST_PROXY,
    http: {
      maxConnections: ok.HTTP_MAX_CONNECTIONS,
      maxConnectionsPerAddress: ok.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
      idleTimeoutMs: ok.HTTP_IDLE_TIMEOUT_MS,
    },
    log: { level: ok.LOG_LEVEL, format: ok.LOG_FORMAT ?? null, dir: ok.LOG_DIR ?? null },
    instanceId: ok.INSTANCE_ID ?? defaultInstanceId(present.HOSTNAME),
    leaseTtlMs: Math.round(ok.LEASE_TTL_S * 1000),
  };
}

const VK_TOKEN_REQUIRED =
  "VK_TOKEN: required for long poll: a community access token (or set VK_LONGPOLL=off and use the Callback API)";

const REQUIRED_HINTS: Record<string, string> = {
  VK_GROUP_ID: "the id of your community (a positive number; a comma-separated list for several)",
};

/** Our messages already name the variable; valibot's built-in ones get it prefixed. */
function issueLine(key: string, issue: v.BaseIssue<unknown>): string {
  if (issue.input === undefined) return `${key}: required: ${REQUIRED_HINTS[key] ?? "set it"}`;
  if (/^[A-Z_]+: /.test(issue.message)) return issue.message;
  return `${key}: ${issue.message}`;
}
