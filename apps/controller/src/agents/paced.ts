/**
 * Work on many items spread over turns of the event loop: at most `perTurn` items per turn, each turn a
 * setImmediate, so I/O waiting between them (an HTTP request, a query's answer, StartRuns going out) is
 * served in between. The gateway resumes paused agent streams through one: a resumed stream hands over
 * the message it buffered at once, and each costs a scan, a decode and the interning of its stacks
 * (~0.5–1 ms), so resuming the 128 sessions an ingest budget of 256 lets go at once was one task of
 * 100 ms or more in which nothing else of this replica ran.
 */
export class Paced<T> {
  private readonly queue = new Set<T>();
  private scheduled: NodeJS.Immediate | undefined;

  constructor(
    readonly perTurn: number,
    private readonly act: (item: T) => void,
  ) {
    if (!Number.isInteger(perTurn) || perTurn < 1) throw new Error(`at least one item per turn, got ${perTurn}`);
  }

  /** Items waiting for their turn. */
  get waiting(): number {
    return this.queue.size;
  }

  /** Acts on `item` in a coming turn, once however often it is added before then; items keep their order. */
  add(item: T): void {
    this.queue.add(item);
    this.scheduled ??= setImmediate(() => this.turn());
  }

  /** Forgets `item` (a session that ended) if it still waits. */
  delete(item: T): void {
    this.queue.delete(item);
  }

  private turn(): void {
    this.scheduled = undefined;
    let n = 0;
    for (const item of this.queue) {
      if (n++ >= this.perTurn) break;
      this.queue.delete(item);
      this.act(item);
    }
    if (this.queue.size > 0) this.scheduled = setImmediate(() => this.turn());
  }
}
