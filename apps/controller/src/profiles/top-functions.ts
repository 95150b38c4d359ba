import type { StackCount } from './flamegraph/flamegraph';

export interface FunctionCount {
  name: string;
  /** Samples with the function as the leaf. */
  self: number;
  /** Samples with the function anywhere on the stack (once per stack, recursion or not). */
  total: number;
  /** Percent of all samples, two decimals. */
  selfPct: number;
  totalPct: number;
}

export interface TopFunctions {
  totalSamples: number;
  bySelf: FunctionCount[];
  byTotal: FunctionCount[];
}

/** Self and total counts of every frame name in the stacks, and the sum of all counts. */
export function functionCounts(stacks: StackCount[]): { counts: Map<string, { self: number; total: number }>; totalSamples: number } {
  const counts = new Map<string, { self: number; total: number }>();
  let totalSamples = 0;
  const at = (name: string): { self: number; total: number } => {
    let c = counts.get(name);
    if (c === undefined) counts.set(name, (c = { self: 0, total: 0 }));
    return c;
  };
  for (const s of stacks) {
    const n = Number(s.count);
    if (n === 0) continue;
    totalSamples += n;
    if (s.frames.length === 0) continue;
    at(s.frames[s.frames.length - 1]).self += n;
    for (const name of new Set(s.frames)) at(name).total += n;
  }
  return { counts, totalSamples };
}

export const pct = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 100);

/** The `n` functions with the most self samples, and the `n` with the most total samples (ties by name). */
export function topFunctions(stacks: StackCount[], n = 20): TopFunctions {
  const { counts, totalSamples } = functionCounts(stacks);
  const all: FunctionCount[] = [...counts].map(([name, c]) => ({
    name,
    self: c.self,
    total: c.total,
    selfPct: pct(c.self, totalSamples),
    totalPct: pct(c.total, totalSamples),
  }));
  const by = (k: 'self' | 'total') => (a: FunctionCount, b: FunctionCount) => b[k] - a[k] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    totalSamples,
    bySelf: all.filter((f) => f.self > 0).sort(by('self')).slice(0, n),
    byTotal: [...all].sort(by('total')).slice(0, n),
  };
}
