/** Numbered raw updates for poll tests: `n` tells their order, `event_id` is unique. */
export function numberedEvents(
  from: number,
  count: number,
): { type: string; event_id: string; n: number }[] {
  return Array.from(
    { length: count },
    (_, i) => ({ type: "message_new", event_id: `e${from + i}`, n: from + i }),
  );
}
