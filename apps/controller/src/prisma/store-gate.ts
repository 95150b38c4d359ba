/**
 * A first-come, first-served limit on concurrent work. Result storage goes through one so that a
 * flood of agent batches never holds every pooled PostgreSQL connection: heartbeats, the REST API
 * and dispatch keep the rest, and a transaction never waits for a connection long enough to time out.
 *
 * Commands come first: while `foreground` work runs (a job being created, dispatched or stopped), the
 * gate lets at most `foregroundSlots` pieces of work run, so results stored at full speed do not take
 * the CPU that the command needs (one replica's work shares one event loop). Work under way finishes;
 * new work waits until the command is done. Whoever reads results in (the agent gateway) hears when commands
 * begin and end (`onCommands`), to stop taking new ones from the wire meanwhile. Commands of other replicas
 * (FleetCommands) run here as `foreground(…, 'elsewhere')`: they narrow the gate the same way, but only this
 * replica's own are told to `onLocalCommands` (which tells the others: told back, they would hold each other).
 */
export class StoreGate {
  private slotCount: number;
  private active = 0;
  private runs = 0;
  private readonly waiting: (() => void)[] = [];
  private foregroundWork = 0;
  private localWork = 0;
  private readonly listeners: ((running: boolean) => void)[] = [];
  private readonly localListeners: ((running: boolean) => void)[] = [];

  constructor(
    slots: number,
    readonly foregroundSlots = slots,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`a gate needs at least one slot, got ${slots}`);
    if (!Number.isInteger(foregroundSlots) || foregroundSlots < 1 || foregroundSlots > slots) {
      throw new Error(`foreground slots must be 1..${slots}, got ${foregroundSlots}`);
    }
    this.slotCount = slots;
  }

  /** Slots work may hold while no command runs. */
  get slots(): number {
    return this.slotCount;
  }

  /**
   * Changes the slots (StackSlots: the stack's share for this replica). Fewer: work under way finishes and its
   * slots are not passed on until the work holding slots is within the new number. More: what waits starts now.
   * Never fewer than the foreground slots.
   */
  setSlots(slots: number): void {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`a gate needs at least one slot, got ${slots}`);
    this.slotCount = Math.max(slots, this.foregroundSlots);
    this.wake();
  }

  /** Work holding a slot now. */
  get busy(): number {
    return this.active;
  }

  /** Work started through the gate since it was made (StackSlots: is this replica writing?). */
  get started(): number {
    return this.runs;
  }

  /** Work waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Slots work may hold now. */
  get limit(): number {
    return this.foregroundWork > 0 ? this.foregroundSlots : this.slots;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    this.runs++;
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line (active stays the same) while within the limit, or frees.
      const next = this.active <= this.limit ? this.waiting.shift() : undefined;
      if (next) next();
      else this.active--;
    }
  }

  /** `listener(true)` when a command begins while none runs, `listener(false)` once the last one running is done. */
  onCommands(listener: (running: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Like onCommands, for this replica's own commands only (`foreground(work)`, not `'elsewhere'`). */
  onLocalCommands(listener: (running: boolean) => void): void {
    this.localListeners.push(listener);
  }

  /** Runs a command with the gate narrowed to its foreground slots until the command is done. */
  async foreground<T>(work: () => Promise<T>, from: 'here' | 'elsewhere' = 'here'): Promise<T> {
    const here = from === 'here';
    if (this.foregroundWork++ === 0) this.tell(this.listeners, true);
    if (here && this.localWork++ === 0) this.tell(this.localListeners, true);
    try {
      return await work();
    } finally {
      if (here && --this.localWork === 0) this.tell(this.localListeners, false);
      if (--this.foregroundWork === 0) this.tell(this.listeners, false);
      // Slots that opened again go to what waits.
      this.wake();
    }
  }

  /** Gives what waits the slots that are free under the limit now. */
  private wake(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active++;
      this.waiting.shift()!();
    }
  }

  private tell(listeners: ((running: boolean) => void)[], running: boolean): void {
    for (const l of listeners) l(running);
  }
}
