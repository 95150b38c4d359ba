import type { RawSample } from '@tracefleet/native';
import { StringTable } from '../string-table';
import { userFramesOf, type PythonFramer } from '../python/python-frames';
import { AGENT_MAX_MESSAGE_BYTES, AGENT_MAX_STRINGS } from '../../message-bounds';
import type { Origin } from '../../lib/proc';
import type { Origin as ProtoOrigin } from '@tracefleet/proto';
import { originKey, OriginTable } from '../origin-table';
import type { MessageSink } from '../tracing-run';

/** Stacks one profile batch carries at most (the controller's cap is 20,000; cpu-profile.type.ts has link.ts check it). */
export const AGENT_MAX_PROFILE_STACKS = 10_000;

export interface FrameSymbolizer {
  symbolizeUser(pid: number, addrs: BigUint64Array): string[];
  symbolizeKernel(addrs: BigUint64Array): string[];
}

export interface FoldedStack {
  frames: number[];
  count: number;
  /** Where the samples' process ran (its cgroup, container, pod); undefined when not known. */
  origin?: Origin;
}

export interface FoldedBatch {
  /** String table; stacks index into it. */
  strings: string[];
  stacks: FoldedStack[];
  samples: number;
}

interface PendingStack {
  sample: RawSample;
  count: number;
}

/**
 * Counts identical raw stacks between flushes (a sample may already stand for several: the profiler's
 * foldSamples), so that each distinct stack is
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
      const key = `${s.pid}/${s.comm}/${s.userStackError}/${s.userStack.join(',')}|${s.kernelStack.join(',')}|${s.pyStatus}/${s.pyTruncated}/${s.pyFrames.join(',')}`;
      const hit = this.pending.get(key);
      if (hit) {
        hit.count += s.count;
      } else if (this.pending.size >= this.maxStacks) {
        this.dropped += s.count;
      } else {
        this.pending.set(key, { sample: s, count: s.count });
      }
    }
  }

  get size(): number {
    return this.pending.size;
  }

  /** Symbolizes and folds everything added since the previous drain; `originOf` labels each process's stacks. */
  drain(symbolizer: FrameSymbolizer, python?: PythonFramer, originOf: (pid: number, comm: string) => Origin | undefined = () => undefined): FoldedBatch {
    const table = new StringTable();
    const byPath = new Map<string, FoldedStack>();
    let samples = 0;
    for (const { sample, count } of this.pending.values()) {
      const frames = foldFrames(sample, symbolizer, python).map((f) => table.intern(f));
      const origin = originOf(sample.pid, sample.comm);
      const key = `${origin === undefined ? '' : originKey(origin)}|${frames.join(',')}`;
      const hit = byPath.get(key);
      if (hit) hit.count += count;
      else byPath.set(key, { frames, count, ...(origin ? { origin } : {}) });
      samples += count;
    }
    this.pending.clear();
    return { strings: table.strings, stacks: [...byPath.values()], samples };
  }
}

/** Root first: the process name, its user frames (Python's in place of the eval loop's), then the kernel frames above them. */
export function foldFrames(s: RawSample, symbolizer: FrameSymbolizer, python?: PythonFramer): string[] {
  const frames = [s.comm || `[pid ${s.pid}]`];
  if (s.userStack.length > 0 || s.pyFrames.length > 0) {
    frames.push(...userFramesOf(s, symbolizer, python));
  } else if (s.userStackError !== 0) {
    // A user stack was expected but could not be read (e.g. -EFAULT on a page that is not resident).
    frames.push(`[user stack unreadable: errno ${-s.userStackError}]`);
  }
  if (s.kernelStack.length > 0) {
    frames.push(...symbolizer.symbolizeKernel(s.kernelStack).reverse());
  }
  return frames;
}

/** Bytes a stack adds to a ProfileBatch at most: a 3-byte varint per frame index, a 10-byte count, tags. */
const stackBytes = (frames: number): number => 3 * frames + 16;
/** Half the message cap: room for the estimate's error (tags, the run id) with a wide margin. */
const CHUNK_BYTES = AGENT_MAX_MESSAGE_BYTES / 2;

/**
 * Cuts one flush into batches the controller accepts: at most AGENT_MAX_PROFILE_STACKS stacks,
 * AGENT_MAX_STRINGS strings and about 2 MiB each, every batch with its own string table. A flush of a
 * busy host (up to TRACEFLEET_AGENT_MAX_STACKS distinct stacks) becomes several batches, not one
 * message over the controller's caps. Samples stay with their stacks.
 */
export function splitFolded(batch: FoldedBatch, limits = { stacks: AGENT_MAX_PROFILE_STACKS, strings: AGENT_MAX_STRINGS, bytes: CHUNK_BYTES }): FoldedBatch[] {
  const out: FoldedBatch[] = [];
  let table = new StringTable();
  let cur: FoldedBatch = { strings: table.strings, stacks: [], samples: 0 };
  let bytes = 0;
  for (const st of batch.stacks) {
    const names = st.frames.map((f) => batch.strings[f]);
    const added = new Set(names).size; // an upper bound on the strings this stack adds
    const size = stackBytes(names.length) + names.reduce((a, n) => a + Buffer.byteLength(n) + 3, 0);
    if (cur.stacks.length > 0 && (cur.stacks.length >= limits.stacks || table.strings.length + added > limits.strings || bytes + size > limits.bytes)) {
      out.push(cur);
      table = new StringTable();
      cur = { strings: table.strings, stacks: [], samples: 0 };
      bytes = 0;
    }
    cur.stacks.push({ frames: names.map((n) => table.intern(n)), count: st.count, ...(st.origin ? { origin: st.origin } : {}) });
    cur.samples += st.count;
    bytes += size;
  }
  if (cur.stacks.length > 0 || out.length === 0) out.push(cur);
  return out;
}

/** A batch's origins table and each stack's index + 1 into it (0: not known), as ProfileBatch carries them. */
export function originTable(stacks: FoldedStack[]): { origins: ProtoOrigin[]; index: number[] } {
  const table = new OriginTable();
  const index = stacks.map((s) => table.index(s.origin));
  return { origins: table.list, index };
}

/**
 * Sends one flush's folded stacks as numbered ProfileBatches (cpu-profile's samples, off-cpu's microseconds), split
 * so that no batch passes the message bounds (message-bounds.ts).
 */
export async function sendFolded(sink: MessageSink, runId: string, nextSeq: () => bigint, drained: FoldedBatch): Promise<void> {
  for (const batch of splitFolded(drained)) {
    const { origins, index } = originTable(batch.stacks);
    await sink.send({
      msg: {
        $case: 'profileBatch',
        value: {
          runId,
          seq: nextSeq(),
          strings: batch.strings,
          stacks: batch.stacks.map((s, i) => ({ frames: s.frames, count: BigInt(s.count), origin: index[i] })),
          origins,
        },
      },
    });
  }
}
