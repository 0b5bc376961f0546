/**
 * The settings check: the routes need some VK event types (buttons need `message_event`),
 * and a community that has not ticked them sends nothing at all. Said once at start, on
 * the log and the status page.
 * @module
 */
import type { Routes } from "../config/routes.ts";
import type { VkApi } from "./api.ts";

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
