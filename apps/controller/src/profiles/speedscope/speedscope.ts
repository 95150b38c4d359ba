/**
 * The speedscope file format (https://www.speedscope.app/file-format-schema.json): frames are
 * shared by all profiles; each profile is "sampled", one stack (frame indices, root first) and
 * one weight per distinct stack.
 */
import { mergeStacks, type StackCount } from '../flamegraph/flamegraph';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

export interface SpeedscopeSampledProfile {
  type: 'sampled';
  name: string;
  unit: 'none' | 'microseconds';
  startValue: number;
  endValue: number;
  samples: number[][];
  weights: number[];
}

export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: { name: string }[] };
  profiles: SpeedscopeSampledProfile[];
  name?: string;
  activeProfileIndex?: number;
  exporter?: string;
}

export interface SpeedscopeInput {
  /** Shown as the file's name in speedscope. */
  name: string;
  nodes: { node: string; stacks: StackCount[] }[];
  /** Also add a profile of all nodes merged (first, so it opens first); only when there are several nodes. */
  merged?: boolean;
  /** What a weight is: 'none' for samples (default), 'microseconds' for off-cpu's blocked time. */
  unit?: 'none' | 'microseconds';
}

export function toSpeedscope(input: SpeedscopeInput): SpeedscopeFile {
  const frames: { name: string }[] = [];
  const index = new Map<string, number>();
  const frameIndex = (name: string): number => {
    let i = index.get(name);
    if (i === undefined) {
      i = frames.length;
      frames.push({ name });
      index.set(name, i);
    }
    return i;
  };
  const profile = (name: string, stacks: StackCount[]): SpeedscopeSampledProfile => {
    const samples: number[][] = [];
    const weights: number[] = [];
    let total = 0;
    // Path order, so equal inputs give byte-identical files.
    const sorted = mergeStacks(stacks).sort((a, b) => comparePaths(a.frames, b.frames));
    for (const s of sorted) {
      const w = Number(s.count);
      if (w === 0) continue;
      samples.push(s.frames.map(frameIndex));
      weights.push(w);
      total += w;
    }
    return { type: 'sampled', name, unit: input.unit ?? 'none', startValue: 0, endValue: total, samples, weights };
  };
  const profiles: SpeedscopeSampledProfile[] = [];
  if (input.merged && input.nodes.length > 1) {
    profiles.push(profile(`all ${input.nodes.length} nodes`, input.nodes.flatMap((n) => n.stacks)));
  }
  for (const n of input.nodes) profiles.push(profile(n.node, n.stacks));
  return { $schema: SPEEDSCOPE_SCHEMA, shared: { frames }, profiles, name: input.name, activeProfileIndex: 0, exporter: 'tracefleet' };
}

function comparePaths(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}
