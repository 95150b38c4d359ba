import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Gives back what finished runs leave in the agent's memory. Two things keep it resident otherwise:
 * - the Buffers a run's batches, gRPC messages and ring-buffer copies used are malloc'd outside V8's heap, and V8
 *   only collects them once external memory has grown by tens of MiB since its last full collection;
 * - glibc keeps freed heap memory (symbolizers' indexes, unwind rows, those Buffers) unless it is at the top of an
 *   arena and beyond a trim threshold that grows with the largest block freed (up to 64 MiB).
 * Measured on a whole-host profile (bench/unwind.mjs): after the run, a full collection and malloc_trim took the
 * agent from ~100 MiB to ~75 MiB, and without them each such run started ~10-20 MiB higher than the one before.
 * So once no run is going and none has ended for `delayMs` (the last batches are sent by then), the agent collects
 * and trims.
 */
export class MemoryReleaser {
  private timer?: NodeJS.Timeout;
  private readonly gc = obtainGc();

  constructor(
    private readonly trim: () => boolean,
    private readonly log: (msg: string) => void,
    private readonly delayMs = 2000,
    private readonly rssBytes: () => number = () => process.memoryUsage.rss(),
  ) {}

  /**
   * Called when a run has ended, with how many are still going. Releases once none is and none has ended for delayMs:
   * a full collection stops the agent's thread for tens of milliseconds, which a running capture must not wait on.
   */
  afterRun(stillRunning = 0): void {
    this.cancel();
    if (stillRunning > 0) return; // the last run to end arms it
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.releaseNow();
    }, this.delayMs);
    this.timer.unref();
  }

  /** A run started: a pending release waits for it (and the others) to end. */
  runStarted(): void {
    this.cancel();
  }

  /** A full collection (when V8 lets us ask for one), then malloc_trim; logs the RSS before and after. */
  releaseNow(): { rssBeforeMiB: number; rssAfterMiB: number; ms: number } {
    const before = this.rssBytes();
    const t0 = performance.now();
    try {
      this.gc?.();
      this.trim();
    } catch (err) {
      this.log(`releasing memory failed: ${err instanceof Error ? err.message : err}`);
    }
    const ms = performance.now() - t0;
    const result = { rssBeforeMiB: mib(before), rssAfterMiB: mib(this.rssBytes()), ms: Math.round(ms * 10) / 10 };
    this.log(`runs ended: memory released, RSS ${result.rssBeforeMiB} -> ${result.rssAfterMiB} MiB in ${result.ms} ms`);
    return result;
  }

  /** Cancels a pending release (the agent is shutting down). */
  close(): void {
    this.cancel();
  }

  private cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function mib(bytes: number): number {
  return Math.round((bytes / 1048576) * 10) / 10;
}

/**
 * V8's gc() without starting node with --expose-gc (the agent is launched by systemd units, npm start and tests
 * alike): the flag set at run time exposes gc in contexts created afterwards. Undefined if that ever stops working;
 * malloc_trim alone still releases what is already free.
 */
function obtainGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}
