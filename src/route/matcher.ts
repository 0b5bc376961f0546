/**
 * The routing decision: which destinations an event goes to. Pure and table-tested.
 * @module
 */
import type { Match, RuleSet } from "./rules.ts";
import type { CustomEvent } from "../events/types.ts";

/** Messages longer than VK allows are cut before matching: with a linear-time engine, that caps its time. */
const MAX_MATCHED_TEXT = 4096;

/** The destination names for `event`, in rule order, without repeats; empty when unrouted. */
export function route(event: CustomEvent, routes: RuleSet): string[] {
  return explainRoute(event, routes).destinations;
}

/**
 * Where an event goes and why: the destinations, and the names of the rules that sent it
 * there (`default` when no rule matched and the routes file's default took it).
 */
export function explainRoute(
  event: CustomEvent,
  routes: RuleSet,
): { destinations: string[]; rules: string[] } {
  const to = new Set<string>();
  const rules: string[] = [];
  for (const rule of routes.rules) {
    if (!matches(rule.when, event)) continue;
    rules.push(rule.name);
    for (const name of rule.to) to.add(name);
    if (!rule.continue) break;
  }
  if (rules.length === 0 && routes.default !== null) {
    to.add(routes.default);
    rules.push("default");
  }
  return { destinations: [...to], rules };
}

/** Whether every condition of `when` holds for `event`. */
export function matches(when: Match, event: CustomEvent): boolean {
  const e = event as unknown as Record<string, unknown>;
  const inList = (list: readonly (string | number)[] | undefined, value: unknown) =>
    list === undefined || list.includes(value as string | number);
  if (!inList(when.event_type, e.event_type)) return false;
  if (!inList(when.group_id, e.group_id)) return false;
  if (!inList(when.peer_id, e.peer_id)) return false;
  if (!inList(when.chat_id, e.chat_id)) return false;
  if (!inList(when.user_id, e.user_id)) return false;
  if (!inList(when.command, e.command)) return false;
  if (when.text !== undefined) {
    if (typeof e.text !== "string") return false;
    if (!when.text.test(e.text.slice(0, MAX_MATCHED_TEXT))) return false;
  }
  if (when.payload !== undefined) {
    const payload = e.payload;
    if (payload === null || typeof payload !== "object") return false;
    for (const [k, v] of Object.entries(when.payload)) {
      if (!Object.hasOwn(payload, k) || !deepEqual((payload as Record<string, unknown>)[k], v)) {
        return false;
      }
    }
  }
  return true;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length &&
    ka.every((k) =>
      deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
}
