/**
 * The settings check: the routes need some VK event types (buttons need `message_event`),
 * and a community that has not ticked them sends nothing at all. Said once at start, on
 * the log and the status page. With replicas, only a community's owner asks VK, once per
 * fleet: the result is shared in Redis, and the other replicas show it from there. The owners
 * ask only once every community of the fleet polls: the checks share the token's 20 calls a
 * second with the calls that start polling, and a start should cost VK one call per community.
 * @module
 */
import type { Routes } from "../config/routes.ts";
import type { RedisClient } from "../redis/connection.ts";
import { redisKeys } from "../redis/keys.ts";
import { evalScript, LuaScript } from "../redis/scripts.ts";
import type { VkApi } from "./api.ts";
import claimSource from "./settings_claim.lua" with { type: "text" };
import readSource from "./settings_read.lua" with { type: "text" };

/** The long-poll setting each custom event type comes from, with its name in VK's settings. */
const SOURCE: Record<string, [string, string]> = {
  message_new: ["message_new", "Incoming message"],
  command_call: ["message_new", "Incoming message"],
  chat_action: ["message_new", "Incoming message"],
  message_edit: ["message_edit", "Message edited"],
  message_reply: ["message_reply", "Outgoing message"],
  button_pressed: ["message_event", "Message event (callback buttons)"],
  reaction: ["message_reaction_event", "Message reaction"],
  member_join: ["group_join", "User joined community"],
  member_leave: ["group_leave", "User left community"],
};

/** The VK settings the routes need, as [setting, label] pairs. */
export function neededSettings(routes: Routes): [string, string][] {
  const needed = new Map<string, string>();
  for (const rule of routes.rules) {
    for (const type of rule.when.event_type ?? []) {
      const source = SOURCE[type];
      if (source) needed.set(source[0], source[1]);
    }
  }
  return [...needed];
}

/** Warnings for one community: long poll disabled, or needed event types not enabled. */
export async function checkSettings(
  api: VkApi,
  groupId: number,
  routes: Routes,
): Promise<string[]> {
  const settings = await api.call<{ is_enabled?: boolean; events?: Record<string, number> }>(
    "groups.getLongPollSettings",
    { group_id: groupId },
  );
  const warnings: string[] = [];
  if (settings?.is_enabled === false) {
    warnings.push(
      `Bots Long Poll API is disabled for community ${groupId}: enable it in Manage > API usage > Long Poll API`,
    );
  }
  for (const [setting, label] of neededSettings(routes)) {
    if (settings?.events?.[setting] !== 1) {
      warnings.push(
        `The routes need ${setting} events, which community ${groupId} does not send: tick "${label}" in Manage > API usage > Long Poll API > Event types`,
      );
    }
  }
  return warnings;
}

/** How long a shared result stands before the community's next owner checks again. */
const SHARED_FOR_MS = 86_400_000;

/** How long a replica that started a check has to share its result before another may. */
const CHECKING_FOR_MS = 60_000;

/**
 * KEYS[1] a settings key; ARGV[1] ms. Answers the shared result, "" while a replica checks,
 * or nil after marking the check as this caller's (so that a quick handover cannot run it
 * twice).
 */
const CLAIM_SCRIPT = new LuaScript(claimSource);

/**
 * KEYS the settings keys, then poll-server keys; ARGV[1] how many settings keys. Answers
 * their values (nil where none), then how many of the poll servers are kept.
 */
const READ_SCRIPT = new LuaScript(readSource);

/** The settings check run once per community per fleet, its result shared through Redis. */
export interface SharedSettings {
  /**
   * The owner's check: runs it unless a replica did lately or is doing it, shares and
   * answers the warnings; null while another replica checks (its result is read later).
   */
  check(api: VkApi, groupId: number): Promise<string[] | null>;
  /**
   * What the owners shared so far for `groupIds` (absent ones are unknown yet), and whether
   * every community of `polled` has its poll server (so polls), in one command.
   */
  read(
    groupIds: readonly number[],
    polled: readonly number[],
  ): Promise<{ shared: Map<number, string[]>; polling: boolean }>;
}

/** Creates the shared check over Redis under `prefix`. */
export function createSharedSettings(
  redis: RedisClient,
  prefix: string,
  routes: Routes,
): SharedSettings {
  const keys = redisKeys(prefix);
  const parse = (text: string | null): string[] | null => {
    try {
      const warnings = text ? JSON.parse(text) : null;
      return Array.isArray(warnings) ? warnings.map(String) : null;
    } catch {
      return null;
    }
  };
  return {
    async check(api, groupId) {
      const key = keys.settings(groupId);
      const shared = await evalScript(redis, CLAIM_SCRIPT, [key], [String(CHECKING_FOR_MS)]);
      if (shared !== null) return parse(String(shared));
      const warnings = await checkSettings(api, groupId, routes);
      await redis.set(key, JSON.stringify(warnings), {
        px: SHARED_FOR_MS,
      });
      return warnings;
    },
    async read(groupIds, polled) {
      const values = await evalScript(
        redis,
        READ_SCRIPT,
        [...groupIds.map((g) => keys.settings(g)), ...polled.map((g) => keys.pollServer(g))],
        [String(groupIds.length)],
      ) as (string | number | null)[];
      const shared = new Map<number, string[]>();
      groupIds.forEach((g, i) => {
        const value = values[i];
        const warnings = parse(typeof value === "string" ? value : null);
        if (warnings) shared.set(g, warnings);
      });
      return { shared, polling: Number(values[groupIds.length]) === polled.length };
    },
  };
}
