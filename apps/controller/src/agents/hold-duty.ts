/**
 * How long commands may keep every agent session unread (IngestBudget.forCommand): at most `maxMs` a hold, and
 * after a hold the sessions are read for at least as long as it lasted before the next command holds them. A
 * client posting jobs back to back (or a burst of schedule ticks) so gets every command's hold while results
 * still flow at least half the time: they are delayed, never starved.
 */
export class HoldDuty {
  private heldSince: number | undefined;
  private freeUntil = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  /** Commands that ran without a hold (the sessions were owed reading time). */
  skipped = 0;

  constructor(
    readonly maxMs: number,
    private readonly hold: (on: boolean) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** StoreGate.onCommands: `true` when commands begin, `false` once the last one running is done. */
  commands(running: boolean): void {
    if (!running) return this.release();
    if (this.heldSince !== undefined) return;
    if (this.now() < this.freeUntil) {
      this.skipped++;
      return;
    }
    this.heldSince = this.now();
    this.hold(true);
    this.timer = setTimeout(() => this.release(), this.maxMs);
    this.timer.unref();
  }

  private release(): void {
    clearTimeout(this.timer);
    if (this.heldSince === undefined) return;
    const at = this.now();
    this.freeUntil = at + (at - this.heldSince);
    this.heldSince = undefined;
    this.hold(false);
  }
}
