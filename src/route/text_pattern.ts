/**
 * A routes rule's `text` condition. Any chat member chooses the text it runs on, so it is an
 * RE2 pattern run by re2js: an automaton that reads the text once, never backtracking, in
 * time linear in the text's length, whatever the pattern and the text. RE2 has no
 * backreferences and no lookarounds (they are what makes backtracking necessary); patterns
 * using them, or too large to match quickly, are refused when the routes file is read.
 * @module
 */
import { RE2JS, RE2JSException, RE2JSSyntaxException } from "re2js";

/** A compiled `text` condition: all the matcher needs, whatever engine runs it. */
export interface TextPattern {
  /** Whether the pattern matches somewhere in `text`. */
  test(text: string): boolean;
}

/**
 * Most instructions a pattern may compile to. A match costs up to about this many steps per
 * character, so the cap bounds the slowest match of VK's longest message: under 100 ms
 * measured for patterns contrived to be slow at the cap, microseconds for ordinary ones. A
 * list of about a hundred words fits.
 */
export const MAX_PATTERN_SIZE = 1_000;

const SEE_README = "routes use RE2 syntax, see README";

/**
 * Compiles a routes `text` pattern, written in RE2 syntax.
 *
 * @example
 * ```ts
 * compileTextPattern("(?i)^привет").test("Привет всем"); // true
 * compileTextPattern("(?=x)"); // throws SyntaxError: lookahead is not supported: …
 * ```
 * @throws {SyntaxError} saying why the pattern cannot be used, in words its author can act on.
 */
export function compileTextPattern(source: string): TextPattern {
  let pattern: RE2JS;
  try {
    pattern = RE2JS.compile(source);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    throw new SyntaxError(whyRefused(error), { cause: error });
  }
  const size = pattern.programSize();
  if (size > MAX_PATTERN_SIZE) {
    throw new SyntaxError(
      `too large: it compiles to ${size} instructions, at most ${MAX_PATTERN_SIZE} are allowed: split it across rules`,
    );
  }
  const letter = asciiBoundaryBesideWideLetter(source);
  if (letter !== null) {
    const why = "\\b and \\w know ASCII letters only";
    const fix = "write (?:^|\\P{L}) or (?:\\P{L}|$) instead";
    throw new SyntaxError(
      `\\b next to "${letter}" never marks a word's edge there: ${why}; ${fix} (${SEE_README})`,
    );
  }
  return pattern;
}

/** The engine's complaint, in the words of someone who knows JavaScript regular expressions. */
function whyRefused(error: RE2JSException): string {
  if (!(error instanceof RE2JSSyntaxException)) return error.message;
  const at = error.input ?? "";
  if (/^\(\?[=!]/.test(at)) return `lookahead is not supported: ${SEE_README}`;
  if (/^\(\?<[=!]/.test(at)) return `lookbehind is not supported: ${SEE_README}`;
  if (/^\\[1-9k]/.test(at)) return `backreferences are not supported: ${SEE_README}`;
  if (at.startsWith("\\u")) return `\\u escapes are not supported, write \\x{…}: ${SEE_README}`;
  return at === "" ? error.error : `${error.error}: \`${at}\``;
}

/**
 * RE2's `\b` sits between an ASCII word character and anything else, so a `\b` written
 * against a Cyrillic (or any non-ASCII) letter, as in `\bспам\b`, does not match at the
 * edges of that word: the rule would quietly never fire. Returns the first such letter, or
 * null. Reads an already compiled pattern; looks through group brackets, flag groups and
 * quantifiers, and counts a character class as a letter when it lists one.
 */
function asciiBoundaryBesideWideLetter(source: string): string | null {
  let previous: string | null = null; // the last token, when it was a wide letter
  let afterBoundary = false; // the last token was \b
  /** Takes the next token: a wide letter, \b, or anything else (null, false). */
  const next = (wide: string | null, boundary = false): string | null => {
    const trap = (afterBoundary ? wide : null) ?? (boundary ? previous : null);
    previous = wide;
    afterBoundary = boundary;
    return trap;
  };
  const closing = (text: string, from: number) => {
    const at = source.indexOf(text, from);
    return at < 0 ? source.length : at;
  };
  let trap: string | null = null;
  for (let i = 0; i < source.length && trap === null; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const escaped = source[++i] ?? "";
      if (escaped === "Q") { // \Q…\E: literal text
        const end = closing("\\E", i);
        for (const ch of source.slice(i + 1, end)) trap ??= next(wideLetter(ch));
        i = end + 1;
      } else {
        if ("pPx".includes(escaped) && source[i + 1] === "{") i = closing("}", i);
        trap = next(null, escaped === "b");
      }
    } else if (c === "[") {
      const end = classEnd(source, i);
      const body = source.slice(i + 1, end);
      trap = next(body.startsWith("^") ? null : [...body].map(wideLetter).find(Boolean) ?? null);
      i = end;
    } else if (c === "(" || c === "{") {
      const skip = matchedAt(c === "(" ? GROUP_HEAD : REPEAT, source, i);
      if (c === "{" && skip === 0) trap = next(null); // a brace that repeats nothing is literal
      i += Math.max(skip, 1) - 1;
    } else if (!")*+?".includes(c)) { // brackets and quantifiers keep \b next to the letter
      const ch = String.fromCodePoint(source.codePointAt(i)!);
      i += ch.length - 1;
      trap = next("|^$.".includes(ch) ? null : wideLetter(ch));
    }
  }
  return trap;
}

/** `(?:`, `(?i)`, `(?i:`, `(?P<name>`, `(?<name>`: no text of their own, like `(` and `)`. */
const GROUP_HEAD = /\(\?(?:[a-zA-Z-]*[:)]|P?<[^>]*>)/y;
/** `{n}`, `{n,}`, `{n,m}`: a quantifier (anything else with a brace is literal in RE2). */
const REPEAT = /\{\d+(?:,\d*)?\}/y;

/** Length of the sticky `re`'s match at `at`, 0 when none. */
function matchedAt(re: RegExp, source: string, at: number): number {
  re.lastIndex = at;
  return re.exec(source)?.[0].length ?? 0;
}

/** Index of the `]` that closes the class opened at `open` (RE2 syntax), or the source's length. */
function classEnd(source: string, open: number): number {
  let i = open + 1;
  if (source[i] === "^") i++;
  if (source[i] === "]") i++; // a leading ] is literal
  while (i < source.length && source[i] !== "]") {
    if (source[i] === "\\") i++;
    else if (source.startsWith("[:", i)) {
      const close = source.indexOf(":]", i + 2);
      if (close > 0) i = close + 1;
    }
    i++;
  }
  return i;
}

function wideLetter(ch: string): string | null {
  return ch.codePointAt(0)! > 0x7f && /\p{L}/u.test(ch) ? ch : null;
}
