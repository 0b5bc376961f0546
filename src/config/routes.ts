/**
 * The routes file: where each event goes. Parsed and cross-checked once at start-up, so a
 * broken file stops the service with every problem named by its JSON path instead of
 * misrouting events at run time.
 * @module
 */
import * as v from "valibot";
import { ConfigError } from "../errors.ts";
import { CUSTOM_EVENT_TYPES } from "../events/types.ts";
import type { Match, Rule } from "../route/rules.ts";
import { compileTextPattern, type TextPattern } from "../route/text_pattern.ts";
import { nearest } from "./nearest.ts";
import {
  type Destination,
  destinationSchemas,
  KIND_NAMES,
  resolveDestination,
} from "../deliver/kinds/registry.ts";

const Name = v.pipe(v.string(), v.nonEmpty("expected a non-empty name"));
const IntList = v.array(v.pipe(v.number(), v.integer()));

/** Any registered kind, chosen by `kind` (the registry's schemas are typed per kind). */
const DestinationSchema = v.variant(
  "kind",
  destinationSchemas as unknown as v.VariantOptions<"kind">,
  (i) => `expected kind ${KIND_NAMES}, got ${JSON.stringify(i.input)}`,
) as unknown as v.GenericSchema<unknown, { kind: string }>;

const WhenSchema = v.strictObject({
  event_type: v.optional(v.array(Name)),
  group_id: v.optional(IntList),
  peer_id: v.optional(IntList),
  chat_id: v.optional(IntList),
  user_id: v.optional(IntList),
  command: v.optional(v.array(Name)),
  text: v.optional(v.string()),
  payload: v.optional(v.record(v.string(), v.unknown())),
});

const RuleSchema = v.strictObject({
  name: v.optional(Name),
  when: v.optional(WhenSchema, {}),
  to: v.pipe(v.array(Name), v.minLength(1, "expected at least one destination")),
  continue: v.optional(v.boolean(), false),
});

/** The routes file's shape; `deno task schema` makes `schema/routes.schema.json` from it. */
export const RoutesSchema = v.strictObject({
  $schema: v.optional(v.string()), // the JSON Schema that editors check the file against
  destinations: v.record(Name, DestinationSchema),
  rules: v.array(RuleSchema),
  default: v.optional(v.nullable(Name), null),
  retry: v.optional(
    v.strictObject({
      attempts: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 8),
      max_age_s: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 86_400),
    }),
    {},
  ),
  dead_letter: v.optional(
    v.nullable(v.union([Name, DestinationSchema], "expected a destination name or object")),
    null,
  ),
});

type RawRoutes = v.InferOutput<typeof RoutesSchema>;
/** A destination with its secret resolved from the environment. */
export type { Destination };

/** A validated routes file. */
export interface Routes {
  destinations: Map<string, Destination>;
  rules: Rule[];
  default: string | null;
  retry: { attempts: number; maxAgeS: number };
  /** Null: the state store's own dead-letter list. */
  deadLetter: Destination | null;
}

/** Built-in routes for a first run: every event to the log. */
export const BUILT_IN_ROUTES: unknown = {
  destinations: { console: { kind: "log" } },
  rules: [{ name: "everything to the log", to: ["console"] }],
};

/**
 * Validates a parsed routes file and resolves webhook secrets from `env`.
 * @throws {ConfigError} with one line per problem, each starting with its JSON path.
 */
export function parseRoutes(
  input: unknown,
  env: Readonly<Record<string, string | undefined>> = {},
): Routes {
  const parsed = v.safeParse(RoutesSchema, input);
  if (!parsed.success) throw new ConfigError(parsed.issues.map(routesIssueLine));
  const raw: RawRoutes = parsed.output;
  const problems: string[] = [];
  const destinations = new Map<string, Destination>();
  for (const [name, d] of Object.entries(raw.destinations)) {
    const path = `$.destinations.${name}`;
    destinations.set(name, resolveDestination(d, { name, path, env, problems }));
  }
  const known = () => [...destinations.keys()].map((n) => JSON.stringify(n)).join(", ") || "none";
  const checkName = (name: string, path: string) => {
    if (!destinations.has(name)) {
      problems.push(`${path}: unknown destination ${JSON.stringify(name)}; declared: ${known()}`);
    }
  };

  const rules: Rule[] = [];
  let catchAll: number | null = null;
  raw.rules.forEach((r, i) => {
    const path = `$.rules[${i}]`;
    const name = r.name ?? `rule ${i}`;
    if (catchAll !== null) {
      problems.push(
        `${path}: unreachable: rule ${catchAll} matches every event and does not continue`,
      );
    }
    r.to.forEach((to, j) => checkName(to, `${path}.to[${j}]`));
    r.when.event_type?.forEach((t, j) => {
      const problem = eventTypeProblem(t);
      if (problem) problems.push(`${path}.when.event_type[${j}]: ${problem}`);
    });
    const { text, ...rest } = r.when;
    const when: Match = { ...rest };
    if (text !== undefined) {
      const regex = compileRegex(text, `${path}.when.text`, problems);
      if (regex) when.text = regex;
    }
    if (Object.keys(r.when).length === 0 && !r.continue && catchAll === null) catchAll = i;
    rules.push({ name, when, to: r.to, continue: r.continue });
  });
  if (raw.default !== null) checkName(raw.default, "$.default");

  let deadLetter: Destination | null = null;
  if (typeof raw.dead_letter === "string") {
    checkName(raw.dead_letter, "$.dead_letter");
    deadLetter = destinations.get(raw.dead_letter) ?? null;
  } else if (raw.dead_letter !== null) {
    deadLetter = resolveDestination(raw.dead_letter, {
      name: "dead_letter",
      path: "$.dead_letter",
      env,
      problems,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    destinations,
    rules,
    default: raw.default,
    retry: { attempts: raw.retry.attempts, maxAgeS: raw.retry.max_age_s },
    deadLetter,
  };
}

/** VK's raw types whose events carry another name: a rule must match the custom one. */
const RENAMED_RAW_TYPES: Readonly<Record<string, string>> = {
  message_event: "button_pressed",
  message_reaction_event: "reaction",
  group_join: "member_join",
  group_leave: "member_leave",
};

/** Why a rule's `event_type` can never match, with the name it probably means; null when valid. */
function eventTypeProblem(type: string): string | null {
  if ((CUSTOM_EVENT_TYPES as readonly string[]).includes(type)) return null;
  const shown = JSON.stringify(type.length > 64 ? `${type.slice(0, 64)}…` : type);
  const renamed = RENAMED_RAW_TYPES[type];
  if (renamed) {
    return `${shown} is VK's raw type; the router names its events ${JSON.stringify(renamed)}`;
  }
  return `unknown event type ${shown}: did you mean ${
    JSON.stringify(nearest(type, CUSTOM_EVENT_TYPES))
  }? (event types: ${CUSTOM_EVENT_TYPES.join(", ")}; see docs/EVENTS.md)`;
}

function compileRegex(source: string, path: string, problems: string[]): TextPattern | null {
  try {
    return compileTextPattern(source);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    problems.push(
      `${path}: invalid regular expression ${JSON.stringify(source)}: ${error.message}`,
    );
    return null;
  }
}

/** JSON path of a valibot issue, like `$.rules[1].when.evnt_type`. */
function jsonPath(issue: v.BaseIssue<unknown>): string {
  let path = "$";
  for (const item of issue.path ?? []) {
    path += typeof item.key === "number" ? `[${item.key}]` : `.${String(item.key)}`;
  }
  return path;
}

function routesIssueLine(issue: v.BaseIssue<unknown>): string {
  if (issue.expected === "never") return `${jsonPath(issue)}: unknown key`;
  return `${jsonPath(issue)}: ${issue.message}`;
}

/** Reads and validates a routes file; every failure (missing file, bad JSON, bad shape) is a {@linkcode ConfigError}. */
export async function loadRoutesFile(
  path: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Routes> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError([`ROUTES_FILE: cannot read ${path}: ${(error as Error).message}`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`ROUTES_FILE: ${path} is not valid JSON: ${(error as Error).message}`]);
  }
  try {
    return parseRoutes(json, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(error.issues.map((i) => `${path}: ${i}`));
    }
    throw error;
  }
}
