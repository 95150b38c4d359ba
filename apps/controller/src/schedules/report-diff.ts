import type { StackCount } from '../profiles/flamegraph/flamegraph';
import { functionCounts } from '../profiles/top-functions';

export interface FunctionChange {
  name: string;
  baseSelf: number;
  targetSelf: number;
  /** Share of each profile's samples in percent (profiles of different lengths compare by share). */
  baseSelfPct: number;
  targetSelfPct: number;
  /** targetSelfPct − baseSelfPct, percentage points, two decimals. */
  deltaPts: number;
}

export interface ReportDiff {
  baseTotal: number;
  targetTotal: number;
  /** Self share grew the most first; includes functions new in the target. */
  grew: FunctionChange[];
  /** Self share shrank the most first; includes functions gone from the target. */
  shrank: FunctionChange[];
}

const share = (c: number, total: number): number => (total === 0 ? 0 : (c / total) * 100);
const round2 = (v: number): number => Math.round(v * 100) / 100;

/**
 * What grew and what shrank between two profiles, by function: the change of each function's share
 * of self samples (what the differential flame graph colours by call path, summed per function).
 * Changes under 0.01 points count as none.
 */
export function reportDiff(base: StackCount[], target: StackCount[], n = 10): ReportDiff {
  const b = functionCounts(base);
  const t = functionCounts(target);
  const names = new Set([...b.counts.keys(), ...t.counts.keys()]);
  const changes: FunctionChange[] = [];
  for (const name of names) {
    const bs = b.counts.get(name)?.self ?? 0;
    const ts = t.counts.get(name)?.self ?? 0;
    if (bs === 0 && ts === 0) continue;
    const bp = share(bs, b.totalSamples);
    const tp = share(ts, t.totalSamples);
    changes.push({ name, baseSelf: bs, targetSelf: ts, baseSelfPct: round2(bp), targetSelfPct: round2(tp), deltaPts: round2(tp - bp) });
  }
  const byName = (x: FunctionChange, y: FunctionChange): number => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  return {
    baseTotal: b.totalSamples,
    targetTotal: t.totalSamples,
    grew: changes.filter((c) => c.deltaPts > 0).sort((x, y) => y.deltaPts - x.deltaPts || byName(x, y)).slice(0, n),
    shrank: changes.filter((c) => c.deltaPts < 0).sort((x, y) => x.deltaPts - y.deltaPts || byName(x, y)).slice(0, n),
  };
}
