/**
 * A first-come, first-served limit on concurrent work. Result storage goes through one so that a
 * flood of agent batches never holds every pooled PostgreSQL connection: heartbeats, the REST API
 * and dispatch keep the rest, and a transaction never waits for a connection long enough to time out.
 */
export class StoreGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`a gate needs at least one slot, got ${slots}`);
  }

  /** Work holding a slot now. */
  get busy(): number {
    return this.active;
  }

  /** Work waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.slots) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line (active stays the same), or frees.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
