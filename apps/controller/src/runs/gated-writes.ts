import type { ProfileBatch } from '@tracefleet/proto';
import type { StoreGate } from '../prisma/store-gate';
import type { DeliveryOrigin } from './delivery';

/** One run's profile batches waiting to be stored. */
export interface ProfileWrite {
  nodeId: string;
  runId: string;
  origin: DeliveryOrigin | undefined;
  batches: ProfileBatch[];
}

type Waiting<T> = T & {
  /** Called when a write takes these batches (no more may join them). */
  taken: () => void;
  resolve: () => void;
  reject: (err: unknown) => void;
};

/** What one write does with the runs it took: settles each run's own outcome (`settle` is called once per run). */
export type WriteMany<T> = (writes: T[], settle: (i: number, err?: unknown) => void) => Promise<void>;

/**
 * Writes of many runs waiting for a storage slot (profile batches, run starts). Whoever gets a slot
 * writes what waits of up to `perWrite` runs with one statement. With thousands of agents sending a
 * batch a second, a run seldom has two batches waiting (its own coalescing, RunsService.onBatch, gains
 * nothing), but many runs do, and one write per run cost a statement and a round trip each (~5 ms of a
 * replica's CPU per batch); a job's runs all start within a second and each start was three statements.
 * A run is in at most one waiting write at a time: RunsService orders each run's writes.
 */
export class GatedWrites<T extends object> {
  private readonly waiting: Waiting<T>[] = [];
  /** Slots asked for and not yet given: each takes up to perWrite runs when it is. */
  private asked = 0;

  constructor(
    private readonly gate: StoreGate,
    private readonly perWrite: number,
    private readonly writeMany: WriteMany<T>,
  ) {
    if (!Number.isInteger(perWrite) || perWrite < 1) throw new Error(`a write takes at least one run, got ${perWrite}`);
  }

  /** Runs waiting for a write. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Stores `w` with what other runs have waiting; resolves once its own outcome is settled. `taken`: when a write took it. */
  write(w: T, taken: () => void = () => undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ ...w, taken, resolve, reject });
      if (this.asked * this.perWrite < this.waiting.length) this.ask();
    });
  }

  private ask(): void {
    this.asked++;
    void this.gate.run(async () => {
      this.asked--;
      const took = this.waiting.splice(0, this.perWrite);
      if (took.length === 0) return;
      for (const w of took) w.taken();
      const settled = new Array<boolean>(took.length).fill(false);
      const settle = (i: number, err?: unknown): void => {
        if (settled[i]) return;
        settled[i] = true;
        if (err === undefined) took[i].resolve();
        else took[i].reject(err);
      };
      try {
        await this.writeMany(took, settle);
        took.forEach((_, i) => settle(i));
      } catch (err) {
        took.forEach((_, i) => settle(i, err));
      }
    });
  }
}
