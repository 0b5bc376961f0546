/**
 * The routing rules as the matcher reads them: the routes file's `rules` and `default`,
 * validated (`config/routes.ts` parses them into these types).
 * @module
 */
import type { TextPattern } from "./text_pattern.ts";

/** What a rule's `when` tests; every present field must hold. */
export interface Match {
  event_type?: string[];
  group_id?: number[];
  peer_id?: number[];
  chat_id?: number[];
  user_id?: number[];
  command?: string[];
  text?: TextPattern;
  payload?: Record<string, unknown>;
}

/** One routing rule. */
export interface Rule {
  name: string;
  when: Match;
  to: string[];
  continue: boolean;
}

/** The rules of a routes file and where an event no rule matched goes. */
export interface RuleSet {
  rules: readonly Rule[];
  /** The destination of unmatched events; null: they go nowhere. */
  default: string | null;
}
