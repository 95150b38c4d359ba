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

/** Frames shared by a file's profiles: index by name, in order of first use. */
export class SpeedscopeFrames {
  readonly frames: { name: string }[] = [];
  private readonly index = new Map<string, number>();

  indexOf(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.frames.length;
      this.frames.push({ name });
      this.index.set(name, i);
    }
    return i;
  }
}

/** One sampled profile: identical paths merged, in path order, so equal inputs give byte-identical files. */
export function speedscopeProfile(name: string, stacks: StackCount[], unit: 'none' | 'microseconds', frames: SpeedscopeFrames): SpeedscopeSampledProfile {
  const samples: number[][] = [];
  const weights: number[] = [];
  let total = 0;
  const sorted = mergeStacks(stacks).sort((a, b) => comparePaths(a.frames, b.frames));
  for (const s of sorted) {
    const w = Number(s.count);
    if (w === 0) continue;
    samples.push(s.frames.map((f) => frames.indexOf(f)));
    weights.push(w);
    total += w;
  }
  return { type: 'sampled', name, unit, startValue: 0, endValue: total, samples, weights };
}

export function toSpeedscope(input: SpeedscopeInput): SpeedscopeFile {
  const frames = new SpeedscopeFrames();
  const unit = input.unit ?? 'none';
  const profiles: SpeedscopeSampledProfile[] = [];
  if (input.merged && input.nodes.length > 1) {
    profiles.push(speedscopeProfile(`all ${input.nodes.length} nodes`, input.nodes.flatMap((n) => n.stacks), unit, frames));
  }
  for (const n of input.nodes) profiles.push(speedscopeProfile(n.node, n.stacks, unit, frames));
  return { $schema: SPEEDSCOPE_SCHEMA, shared: { frames: frames.frames }, profiles, name: input.name, activeProfileIndex: 0, exporter: 'tracefleet' };
}

function comparePaths(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return a.length - b.length;
}
