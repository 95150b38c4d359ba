// Reading folded stacks (`GET /jobs/:id/flamegraph.folded`) in the end-to-end tests.

export interface FoldedLine {
  frames: string[];
  count: number;
}

/** `a;b;c 12` lines → frames root first and the count. */
export function parseFolded(text: string): FoldedLine[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const sp = line.lastIndexOf(' ');
      return { frames: line.slice(0, sp).split(';'), count: Number(line.slice(sp + 1)) };
    });
}

/**
 * Whether `path` appears in this stack in order, each frame below the one before (other frames may sit
 * between them, e.g. inlined or libc frames), and the last one is not the root.
 */
export function hasPath(frames: string[], path: string[]): boolean {
  let at = -1;
  for (const name of path) {
    const i = frames.indexOf(name, at + 1);
    if (i < 0) return false;
    at = i;
  }
  return path.length === 0 || frames.indexOf(path[path.length - 1]) > 0;
}

/** Samples (or weight) in stacks that hold `path` in order, and the total over every stack. */
export function samplesUnder(stacks: FoldedLine[], path: string[]): { under: number; total: number; share: number } {
  const total = stacks.reduce((a, s) => a + s.count, 0);
  const under = stacks.filter((s) => hasPath(s.frames, path)).reduce((a, s) => a + s.count, 0);
  return { under, total, share: total > 0 ? under / total : 0 };
}
