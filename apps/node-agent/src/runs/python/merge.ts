/**
 * One stack out of two: the native user stack, where the interpreter shows as a column of
 * `_PyEval_EvalFrameDefault` frames (one per C call of the eval loop), and the Python frames the
 * profile program read (frame words, innermost first). Each eval frame is replaced by the Python
 * frames it was running, so C extensions and libc stay where they were called from.
 */
import { PY_FRAME_ENTRY } from './layout';

/**
 * The eval loop, with the suffixes GCC gives a function's split parts and clones (`.cold`,
 * `.lto_priv.0`): a return address in the cold part is still the same C call.
 */
const EVAL_FRAME = /^_PyEval_EvalFrameDefault(?:\.[A-Za-z0-9_.]+)?$/;
/** A native frame of the interpreter, when there is no eval frame to go by. */
const INTERPRETER_FRAME = /Py|python/;

export function isEvalFrame(name: string): boolean {
  return EVAL_FRAME.test(name);
}

/**
 * The frame words cut into the runs of one C eval call each, innermost run first, each run
 * innermost first: a run ends at (includes) a word with PY_FRAME_ENTRY; words past the last such
 * word (a chain cut short, or a model that marks no entries) are a run of their own.
 */
export function groupFrameWords(words: BigUint64Array): bigint[][] {
  const groups: bigint[][] = [];
  let cur: bigint[] = [];
  for (const w of words) {
    cur.push(w);
    if ((w & PY_FRAME_ENTRY) !== 0n) {
      groups.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) groups.push(cur);
  return groups;
}

/**
 * The user stack, root first, with the Python frames in place of the eval frames they ran in.
 *
 * Groups of Python frames (groupFrameWords) and eval frames are matched from the root: the
 * outermost eval frame ran the outermost group. When `truncated` (the profile program stopped at
 * TRACEFLEET_MAX_PY_FRAMES: the outermost groups are missing) they are matched from the innermost
 * side instead. Eval frames left over stay as they are; groups left over join the eval frame
 * nearest the side they overflow (the innermost one, or the outermost one when truncated).
 *
 * With no eval frame at all (a native unwind that stopped early, or an interpreter whose eval
 * loop has no symbol) the Python frames go right after the innermost native frame that looks
 * like the interpreter's (/Py|python/); with none of those either, first: the native frames
 * that were found are then the innermost ones, called from Python code.
 */
export function mergePythonFrames(userRootFirst: string[], words: BigUint64Array, truncated: boolean, nameOf: (w: bigint) => string): string[] {
  if (words.length === 0) return userRootFirst.slice();
  const groups = groupFrameWords(words)
    .reverse()
    .map((g) => g.reverse().map(nameOf)); // root first, each root first
  const evals: number[] = [];
  userRootFirst.forEach((f, i) => {
    if (isEvalFrame(f)) evals.push(i);
  });

  if (evals.length === 0) {
    let at = -1;
    for (let i = userRootFirst.length - 1; i >= 0; i--) {
      if (INTERPRETER_FRAME.test(userRootFirst[i])) {
        at = i;
        break;
      }
    }
    return [...userRootFirst.slice(0, at + 1), ...groups.flat(), ...userRootFirst.slice(at + 1)];
  }

  // replacement[k]: the Python frames that take the place of eval frame evals[k]
  const replacement = new Map<number, string[]>();
  const m = evals.length;
  const n = groups.length;
  if (!truncated) {
    for (let k = 0; k < Math.min(m, n); k++) replacement.set(k, groups[k]);
    if (n > m) replacement.set(m - 1, groups.slice(m - 1).flat());
  } else {
    for (let k = 1; k <= Math.min(m, n); k++) replacement.set(m - k, groups[n - k]);
    if (n > m) replacement.set(0, groups.slice(0, n - m + 1).flat());
  }

  const out: string[] = [];
  let k = 0;
  for (let i = 0; i < userRootFirst.length; i++) {
    if (k < m && evals[k] === i) {
      const r = replacement.get(k++);
      if (r) out.push(...r);
      else out.push(userRootFirst[i]);
    } else {
      out.push(userRootFirst[i]);
    }
  }
  return out;
}
