import type { RawSample } from '@tracefleet/native';
import { StringTable } from './string-table';

export interface FrameSymbolizer {
  symbolizeUser(pid: number, addrs: BigUint64Array): string[];
  symbolizeKernel(addrs: BigUint64Array): string[];
}

export interface FoldedBatch {
  /** String table; stacks index into it. */
  strings: string[];
  stacks: { frames: number[]; count: number }[];
  samples: number;
}

interface PendingStack {
  sample: RawSample;
  count: number;
}

/**
 * Counts identical raw stacks between flushes, so that each distinct stack is
 * symbolized once per flush however often it was sampled. The number of
 * distinct stacks kept is bounded; samples past the bound are counted as
 * dropped, never silently lost.
 */
export class StackAggregator {
  private pending = new Map<string, PendingStack>();
  dropped = 0;

  constructor(private readonly maxStacks: number) {}

  add(samples: RawSample[]): void {
    for (const s of samples) {
      const key = `${s.pid}/${s.comm}/${s.userStackError}/${s.userStack.join(',')}|${s.kernelStack.join(',')}`;
      const hit = this.pending.get(key);
      if (hit) {
        hit.count++;
      } else if (this.pending.size >= this.maxStacks) {
        this.dropped++;
      } else {
        this.pending.set(key, { sample: s, count: 1 });
      }
    }
  }

  get size(): number {
    return this.pending.size;
  }

  /** Symbolizes and folds everything added since the previous drain. */
  drain(symbolizer: FrameSymbolizer): FoldedBatch {
    const table = new StringTable();
    const byPath = new Map<string, { frames: number[]; count: number }>();
    let samples = 0;
    for (const { sample, count } of this.pending.values()) {
      const frames = foldFrames(sample, symbolizer).map((f) => table.intern(f));
      const key = frames.join(',');
      const hit = byPath.get(key);
      if (hit) hit.count += count;
      else byPath.set(key, { frames, count });
      samples += count;
    }
    this.pending.clear();
    return { strings: table.strings, stacks: [...byPath.values()], samples };
  }
}

/** Root first: the process name, its user frames, then the kernel frames above them. */
export function foldFrames(s: RawSample, symbolizer: FrameSymbolizer): string[] {
  const frames = [s.comm || `[pid ${s.pid}]`];
  if (s.userStack.length > 0) {
    frames.push(...symbolizer.symbolizeUser(s.pid, s.userStack).reverse());
  } else if (s.userStackError !== 0) {
    // A user stack was expected but could not be read (e.g. -EFAULT on a page that is not resident).
    frames.push(`[user stack unreadable: errno ${-s.userStackError}]`);
  }
  if (s.kernelStack.length > 0) {
    frames.push(...symbolizer.symbolizeKernel(s.kernelStack).reverse());
  }
  return frames;
}
