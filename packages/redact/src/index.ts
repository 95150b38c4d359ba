/**
 * Job redaction patterns (`redactPatterns`), compiled and applied with re2js, a JavaScript port of
 * RE2: matching takes time linear in the input (times the compiled program's size), whatever the
 * pattern, so bytes a remote client of a traced service sends cannot make a pattern backtrack
 * catastrophically on the agent's thread. RE2 syntax has no backreferences and no lookaround.
 *
 * One package for both sides: the controller checks a job's patterns with compilePattern (a 400
 * naming the pattern), and the agent compiles them again with the same rules, because a controller
 * of an older version may send what this one refuses, before applying them.
 *
 * Patterns match the captured bytes as UTF-8 (RE2's default): a non-ASCII literal in a pattern
 * matches its UTF-8 encoding, `.` one character; a byte that is not valid UTF-8 counts as one
 * character (U+FFFD), so binary data is matched without error and offsets stay byte offsets.
 */
import { RE2JS, RE2JSSyntaxException } from 're2js';

/** A compiled redaction pattern (what compilePattern returns, what applyPatterns takes). */
export type CompiledPattern = RE2JS;

export const MARKER = Buffer.from('[REDACTED]', 'latin1');

/**
 * Largest RE2 program (instructions) a pattern may compile to. Where RE2 cannot use its DFA,
 * matching costs up to one step per instruction per byte; measured here ~40 ns per
 * instruction-byte, so a pattern at this size costs at most ~0.3 s on a 16 KiB call.
 * Every realistic secret pattern is far smaller (`sk_live_[A-Za-z0-9]+`: 12, `\b\d{16}\b`: 20).
 */
export const MAX_PROGRAM_SIZE = 500;
/** The same bound for all of a job's patterns together: each captured call goes through every one. */
export const MAX_TOTAL_PROGRAM_SIZE = 2000;

/** Strings whose positions between them give every context an empty match can need (text and line ends, word boundaries). */
const EMPTY_PROBES = ['', 'a', ' ', '\n', 'a a', 'a\na', ' a ', '\r\n', 'é'];

/** A pattern refused (by controller and agent alike); the message is the reason, in words for the one who wrote it. */
export class PatternError extends Error {}

/** RE2's refusal in words, naming what RE2 syntax lacks where the fragment shows it. */
export function re2Reason(err: unknown): string {
  if (!(err instanceof RE2JSSyntaxException)) return `not accepted by RE2: ${(err as Error).message}`;
  const what = err.error ?? '';
  const at = err.input ?? '';
  if (/^\\[1-9]/.test(at) || /^\\k/.test(at) || /^\(\?P=/.test(at)) return 'backreferences are not supported (RE2 syntax)';
  if (/^\(\?[=!]/.test(at)) return 'lookahead is not supported (RE2 syntax)';
  if (/^\(\?<[=!]/.test(at)) return 'lookbehind is not supported (RE2 syntax)';
  if (/^\(\?>/.test(at)) return 'atomic groups are not supported (RE2 syntax)';
  if (/^[*+?}]\+$/.test(at)) return 'possessive quantifiers are not supported (RE2 syntax)';
  return `${what}${at ? `: \`${at}\`` : ''} (RE2 syntax)`;
}

/** Whether the compiled pattern finds an empty match in any probe string. */
function matchesEmpty(re: RE2JS): boolean {
  for (const probe of EMPTY_PROBES) {
    const m = re.matcher(probe);
    for (let n = 0; n <= probe.length + 1 && m.find(); n++) if (m.end() === m.start()) return true;
  }
  return false;
}

/** Compiles one pattern as the agent applies it (the controller's check is this same call); throws PatternError with the reason. */
export function compilePattern(source: string): RE2JS {
  if (source.length === 0) throw new PatternError('empty pattern');
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    throw new PatternError(re2Reason(err));
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) throw new PatternError(`compiles to ${size} RE2 instructions (at most ${MAX_PROGRAM_SIZE}); use smaller repeat counts`);
  // An empty match redacts nothing; refused so that a pattern like `a*` is not mistaken for working.
  if (matchesEmpty(re)) throw new PatternError('must not match the empty string (it would redact nothing)');
  return re;
}

/**
 * Replaces every non-empty match of each pattern by MARKER (a match that is the marker itself
 * stays), pattern after pattern. Returns `data` itself when nothing matched.
 */
export function applyPatterns(data: Buffer, patterns: readonly RE2JS[]): { data: Buffer; count: number } {
  let cur = data;
  let count = 0;
  for (const re of patterns) {
    const bytes = new Uint8Array(cur.buffer, cur.byteOffset, cur.length);
    // The DFA answers "any match?" several times faster than the matcher finds where.
    if (!re.test(bytes)) continue;
    const m = re.matcher(bytes);
    const parts: Buffer[] = [];
    let last = 0;
    // find() steps past an empty match by itself; the bound only guards against an engine bug.
    for (let n = 0; n <= bytes.length && m.find(); n++) {
      const a = m.start();
      const b = m.end();
      if (b === a || (b - a === MARKER.length && cur.subarray(a, b).equals(MARKER))) continue;
      parts.push(cur.subarray(last, a), MARKER);
      last = b;
      count++;
    }
    if (parts.length > 0) {
      parts.push(cur.subarray(last));
      cur = Buffer.concat(parts);
    }
  }
  return { data: cur, count };
}
