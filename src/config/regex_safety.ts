/**
 * A routes file's `text` patterns run on every message, and JavaScript cannot interrupt a
 * regular expression. So a pattern that can backtrack for ever is refused at start-up:
 * statically (a repeated group that itself repeats, or that repeats a choice between
 * branches which can match the same text), then by timing it on hostile inputs built from
 * its own characters. At match time the text is also capped at VK's 4,096 characters.
 * @module
 */

/** Why `source` could hang the router, or null when it looks safe. */
export function regexHazard(source: string): string | null {
  return staticHazard(source) ?? timingHazard(source);
}

interface Frame {
  /** Some element inside repeats (or is optional). */
  repeats: boolean;
  /** The top-level branches, as literal text, or null once a branch is not a plain literal. */
  branches: (string | null)[];
}

interface Atom {
  kind: "char" | "class" | "group";
  /** For groups: an element inside repeats. */
  repeats: boolean;
  /** For groups: the branches when the group is a choice. */
  branches: (string | null)[];
}

function staticHazard(source: string): string | null {
  const stack: Frame[] = [{ repeats: false, branches: [""] }];
  const top = () => stack.at(-1)!;
  const appendLiteral = (text: string | null) => {
    const frame = top();
    const i = frame.branches.length - 1;
    frame.branches[i] = text === null || frame.branches[i] === null
      ? null
      : frame.branches[i] + text;
  };
  let last: Atom | null = null;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const next = source[i + 1] ?? "";
      const isClass = /[dDwWsSpPbBuxck0-9]/.test(next);
      let end = i + 1;
      if ((next === "p" || next === "P" || next === "u") && source[i + 2] === "{") {
        end = source.indexOf("}", i);
      } else if (next === "x") end = i + 3;
      else if (next === "u") end = i + 5;
      i = Math.max(end, i + 1);
      last = { kind: isClass ? "class" : "char", repeats: false, branches: [] };
      appendLiteral(isClass ? null : next);
    } else if (c === "[") {
      let j = i + 1;
      while (j < source.length && source[j] !== "]") j += source[j] === "\\" ? 2 : 1;
      i = j;
      last = { kind: "class", repeats: false, branches: [] };
      appendLiteral(null);
    } else if (c === "(") {
      stack.push({ repeats: false, branches: [""] });
      if (source[i + 1] === "?") {
        const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(source.slice(i + 1));
        if (m) i += m[0].length;
      }
      last = null;
    } else if (c === ")") {
      const frame = stack.length > 1 ? stack.pop()! : top();
      top().repeats ||= frame.repeats;
      last = { kind: "group", repeats: frame.repeats, branches: frame.branches };
      appendLiteral(frame.branches.length === 1 ? frame.branches[0]! : null);
    } else if (c === "|") {
      top().branches.push("");
      last = null;
    } else if (
      c === "*" || c === "+" || c === "?" || (c === "{" && /^\{\d+(,\d*)?\}/.test(source.slice(i)))
    ) {
      let quantifier = c;
      if (c === "{") {
        quantifier = /^\{\d+(,\d*)?\}/.exec(source.slice(i))![0];
        i += quantifier.length - 1;
      }
      if (source[i + 1] === "?") i++; // lazy: the same backtracking
      const unbounded = quantifier === "*" || quantifier === "+" || /,\}$/.test(quantifier);
      if (last?.kind === "group" && unbounded) {
        if (last.repeats) return "it repeats a group that itself repeats, like (a+)+";
        if (last.branches.length > 1 && !distinctLiterals(last.branches)) {
          return "it repeats a choice whose branches can match the same text, like (a|a)*";
        }
      }
      top().repeats = true;
      appendLiteral(null);
    } else {
      last = { kind: "char", repeats: false, branches: [] };
      appendLiteral(c === "." || c === "^" || c === "$" ? null : c);
    }
  }
  return null;
}

/** Branches that are plain literals starting with different characters cannot overlap. */
function distinctLiterals(branches: (string | null)[]): boolean {
  if (branches.some((b) => b === null || b === "")) return false;
  const firsts = branches.map((b) => b![0]);
  return new Set(firsts).size === firsts.length;
}

/** The slowest match of the pattern on hostile inputs, refused past a budget. */
function timingHazard(source: string): string | null {
  let regex: RegExp;
  try {
    regex = new RegExp(source, "u");
  } catch {
    return null; // reported as invalid by the caller
  }
  const chars = [...new Set(source.replace(/\\./g, "").replace(/[^\p{L}\p{N} _@.,!/-]/gu, ""))];
  const alphabet = [...new Set(["a", "1", " ", "@", ...chars])].slice(0, 12);
  const samples: string[] = [];
  for (const a of alphabet) {
    for (const end of ["!", "\u0000", "\n"]) samples.push(a.repeat(1_000) + end);
  }
  samples.push(alphabet.join("").repeat(80) + "!");
  for (const text of samples) {
    const started = performance.now();
    regex.test(text);
    if (performance.now() - started > 25) return "it takes too long on long inputs (backtracking)";
  }
  return null;
}
