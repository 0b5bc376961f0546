/**
 * The benchmark workload: raw VK events of mixed types from a community of 2,000 users in
 * 50 chats, with Zipf-like popularity (a few people and chats are most of the traffic).
 * Deterministic for a given seed.
 * @module
 */

export const GROUP_ID = 218730916;
export const USERS = 2_000;
export const CHATS = 50;

/** A Zipf(s) sampler over 1..n, by inverse CDF. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = total += 1 / k ** s;
  return () => {
    const x = random() * total;
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

/** `count` raw events; `event_id` is `b<index>` so the bench can map it back. */
export function workload(count: number, seed = 7): unknown[] {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const user = zipf(USERS, 1.1, random);
  const chat = zipf(CHATS, 1.1, random);
  const events: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const from = user();
    const peer = random() < 0.85 ? 2_000_000_000 + chat() : from;
    const envelope = (type: string, object: unknown) => ({
      type,
      event_id: `b${i}`,
      group_id: GROUP_ID,
      v: "5.199",
      object,
    });
    const r = random();
    const message = (text: string) => ({
      message: {
        from_id: from,
        peer_id: peer,
        text,
        conversation_message_id: i,
        date: 1709107923,
        attachments: [],
        fwd_messages: [],
      },
    });
    if (r < 0.6) {
      events.push(envelope("message_new", message(`message number ${i} [id${user()}|@friend]`)));
    } else if (r < 0.75) {
      events.push(
        envelope("message_new", message(`/ban [id${user()}|@spammer] 1d "too many links"`)),
      );
    } else if (r < 0.85) {
      events.push(
        envelope("message_event", {
          user_id: from,
          peer_id: peer,
          event_id: `btn${i}`,
          payload: { call_action: "vote", n: i },
          conversation_message_id: i,
        }),
      );
    } else if (r < 0.93) {
      events.push(
        envelope("message_reaction_event", {
          reacted_id: from,
          peer_id: peer,
          cmid: i,
          reaction_id: 1 + (i % 16),
        }),
      );
    } else if (r < 0.97) {
      events.push(
        envelope("message_edit", {
          from_id: from,
          peer_id: peer,
          text: `edited ${i}`,
          conversation_message_id: i,
        }),
      );
    } else {events.push(
        envelope(random() < 0.5 ? "group_join" : "group_leave", {
          user_id: from,
          join_type: "join",
          self: 1,
        }),
      );}
  }
  return events;
}

/** Users and chats for the fake VK to know. */
export function directory(): {
  users: { id: number; first_name: string; last_name: string; domain: string }[];
  chats: [number, string][];
} {
  return {
    users: Array.from(
      { length: USERS },
      (_, i) => ({
        id: i + 1,
        first_name: `Name${i + 1}`,
        last_name: `Surname${i + 1}`,
        domain: `user${i + 1}`,
      }),
    ),
    chats: Array.from(
      { length: CHATS },
      (_, i) => [2_000_000_001 + i, `Chat ${i + 1}`] as [number, string],
    ),
  };
}
