/**
 * Reading message text: VK's mention markup and bot commands. Pure functions.
 * @module
 */
import type { Mention } from "./types.ts";

/** `[id123|text]`, `[club456|text]`, `[public456|text]`. */
const MENTION = /\[(id|club|public)(\d{1,19})\|([^\]\n]*)\]/g;

/** The mentions in `text`, in order; communities get negative ids. */
export function parseMentions(text: string): Mention[] {
  const mentions: Mention[] = [];
  for (const m of text.matchAll(MENTION)) {
    const id = Number(m[2]);
    if (!Number.isSafeInteger(id)) continue;
    mentions.push({ id: m[1] === "id" ? id : -id, text: m[3]! });
  }
  return mentions;
}

/** A parsed bot command. */
export interface Command {
  command: string;
  args: string[];
}

/**
 * Reads `text` as a command: a prefix (longest match of `prefixes`), then a word. A
 * leading mention of this community (`[club123|@bot] /ban`) is allowed and dropped.
 * Returns null when the text is not a command.
 */
export function parseCommand(
  text: string,
  prefixes: readonly string[],
  groupId: number,
): Command | null {
  let rest = text.trimStart();
  const self = selfMention(groupId).exec(rest);
  if (self) rest = rest.slice(self[0].length);
  const prefix = longestFirst(prefixes).find((p) => rest.startsWith(p));
  if (prefix === undefined) return null;
  const words = splitArgs(rest.slice(prefix.length));
  const first = words.shift();
  if (first === undefined || /^\s/.test(rest.slice(prefix.length))) return null;
  return { command: first.toLowerCase(), args: words };
}

/**
 * The last community's leading self-mention pattern and the last prefix list sorted longest
 * first: a batch's messages share both, so each is built once, not per message (one entry
 * each, so nothing grows).
 */
let lastMention: { groupId: number; pattern: RegExp } | null = null;
let lastPrefixes: { given: readonly string[]; sorted: readonly string[] } | null = null;

function selfMention(groupId: number): RegExp {
  if (lastMention?.groupId !== groupId) {
    const pattern = new RegExp(`^\\[(?:club|public)${groupId}\\|[^\\]\\n]*\\][\\s,:]*`);
    lastMention = { groupId, pattern };
  }
  return lastMention.pattern;
}

function longestFirst(prefixes: readonly string[]): readonly string[] {
  if (lastPrefixes?.given !== prefixes) {
    lastPrefixes = { given: prefixes, sorted: [...prefixes].sort((a, b) => b.length - a.length) };
  }
  return lastPrefixes.sorted;
}

/** Splits on white space, keeping quoted strings ("…", '…', «…») and mention markup whole. */
export function splitArgs(text: string): string[] {
  const words: string[] = [];
  const token = /\[(?:id|club|public)\d+\|[^\]\n]*\]|"([^"]*)"|'([^']*)'|«([^»]*)»|\S+/g;
  for (const m of text.matchAll(token)) words.push(m[1] ?? m[2] ?? m[3] ?? m[0]);
  return words;
}
