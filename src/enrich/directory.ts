/**
 * Who is who: the lookups enrichment needs, behind one interface with a VK-backed
 * implementation here and simple ones in tests. One call per method per batch:
 * `users.get` (1000 ids), `groups.getById` (500), `messages.getConversationsById` (100).
 * @module
 */
import { VkApiError } from "../errors.ts";
import type { VkApi } from "../vk/api.ts";

/** A user's or community's display name and screen name. */
export interface Profile {
  name: string;
  nick: string | null;
}

/**
 * Name lookups. Each answers for every id asked: a value, or null when VK will not tell
 * (no access, deleted). A rejection means VK failed and the ids are worth asking again.
 */
export interface Directory {
  users(ids: readonly number[], signal?: AbortSignal): Promise<Map<number, Profile | null>>;
  communities(ids: readonly number[], signal?: AbortSignal): Promise<Map<number, Profile | null>>;
  /** Titles of group chats of community `groupId` (its token may serve others too). */
  chatTitles(
    peerIds: readonly number[],
    signal?: AbortSignal,
    groupId?: number,
  ): Promise<Map<number, string | null>>;
}

/** VK errors meaning "no access to this user or chat": the answer is null, not a failure. */
export const NO_ACCESS_CODES: ReadonlySet<number> = new Set([15, 18, 30, 113, 203, 917, 927, 935]);

interface VkUser {
  id: number;
  first_name?: string;
  last_name?: string;
  domain?: string;
}

interface VkGroup {
  id: number;
  name?: string;
  screen_name?: string;
}

interface VkConversation {
  peer?: { id?: number };
  chat_settings?: { title?: string };
}

/** A {@linkcode Directory} over the VK API. */
export function createVkDirectory(api: VkApi): Directory {
  return {
    users: (ids, signal) =>
      lookup(ids, 1000, async (chunk) => {
        const users = await api.call<VkUser[]>(
          "users.get",
          { user_ids: chunk, fields: "domain" },
          signal,
        );
        return (users ?? []).map((
          u,
        ) => [u.id, profile(`${u.first_name ?? ""} ${u.last_name ?? ""}`, u.domain)]);
      }),
    communities: (ids, signal) =>
      lookup(ids, 500, async (chunk) => {
        const answer = await api.call<{ groups?: VkGroup[] } | VkGroup[]>("groups.getById", {
          group_ids: chunk,
        }, signal);
        const groups = Array.isArray(answer) ? answer : answer?.groups ?? [];
        return groups.map((g) => [g.id, profile(g.name ?? "", g.screen_name)]);
      }),
    chatTitles: (peerIds, signal, groupId) =>
      lookup(peerIds, 100, async (chunk) => {
        const answer = await api.call<{ items?: VkConversation[] }>(
          "messages.getConversationsById",
          { peer_ids: chunk, group_id: groupId },
          signal,
        );
        return (answer?.items ?? []).flatMap((c) =>
          typeof c.peer?.id === "number"
            ? [[c.peer.id, c.chat_settings?.title ?? null] as const]
            : []
        );
      }),
  };
}

function profile(name: string, nick: string | undefined): Profile | null {
  const trimmed = name.trim();
  return trimmed === "" ? null : { name: trimmed, nick: nick || null };
}

/** Asks in chunks of `size`; ids VK did not answer for are null; "no access" errors null the chunk. */
async function lookup<T>(
  ids: readonly number[],
  size: number,
  ask: (chunk: number[]) => Promise<(readonly [number, T | null])[]>,
): Promise<Map<number, T | null>> {
  const result = new Map<number, T | null>();
  for (let i = 0; i < ids.length; i += size) {
    const chunk = ids.slice(i, i + size);
    try {
      for (const [id, value] of await ask(chunk)) result.set(id, value);
    } catch (error) {
      if (!(error instanceof VkApiError && NO_ACCESS_CODES.has(error.code))) throw error;
    }
    for (const id of chunk) if (!result.has(id)) result.set(id, null);
  }
  return result;
}
