/**
 * A duty-cycled capture: the probes are attached for `onMs` at the start of every `periodMs` and
 * taken out for the rest, so calls outside the windows cost the traced process nothing at all (no
 * trap). Windows are laid on the run's start (no drift from timer lateness); the time actually
 * attached is measured, and the run's notes give the fraction so counts and rates can be scaled.
 * A timer makes each change; tick(), called with every batch of events, makes an overdue one: a
 * flood of events can hold the event loop's timers back for seconds (measured: a window meant to
 * last 600 ms stayed open 96 % of the run under 160,000 events/s).
 */
import type { SslLinkKind } from '@tracefleet/native';

export interface Pausable {
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** how the probes are linked (SslTracer.linkKind): what a pause waits for */
  readonly linkKind?: SslLinkKind;
}

export class DutyCycle {
  private readonly startedAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private attachedSince: number | undefined;
  private attachedMs = 0;
  private windows = 0;
  private stoppedAt: number | undefined;
  private stopping = false;
  private failure: string | undefined;
  /** time taking the probes out took, summed over the windows */
  private pauseMs = 0;
  private pauses = 0;
  /** the window change under way */
  private changing: Promise<void> = Promise.resolve();
  /** the next change: when, and what */
  private next: { at: number; run: () => void } | undefined;

  constructor(
    private readonly onMs: number,
    private readonly periodMs: number,
    private readonly probes: Pausable,
  ) {
    if (!(onMs > 0 && periodMs > onMs)) throw new Error(`a duty cycle needs 0 < onMs < periodMs (got ${onMs} in ${periodMs})`);
  }

  /** The probes are attached now: the first window is open. */
  start(): void {
    this.open();
  }

  private open(): void {
    this.attachedSince = Date.now();
    this.windows++;
    const closeAt = this.startedAt + (this.windows - 1) * this.periodMs + this.onMs;
    this.schedule(closeAt, () => this.close());
  }

  private schedule(at: number, run: () => void): void {
    const next = { at, run };
    this.next = next;
    this.timer = setTimeout(() => this.fire(next), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private fire(next: { at: number; run: () => void }): void {
    if (this.next !== next || this.stopping) return;
    this.next = undefined;
    clearTimeout(this.timer);
    next.run();
  }

  /** Makes the next change now if it is due (its timer may be held back by a busy event loop). */
  tick(now = Date.now()): void {
    if (this.next && now >= this.next.at) this.fire(this.next);
  }

  /** The probes stay attached (and are counted so) until the kernel has taken the last one out. */
  private close(): void {
    this.changing = (async () => {
      const t0 = Date.now();
      await this.act(() => this.probes.pause());
      this.pauseMs += Date.now() - t0;
      this.pauses++;
      this.account();
      if (this.stopping) return;
      const openAt = this.startedAt + this.windows * this.periodMs;
      this.schedule(openAt, () => {
        this.changing = (async () => {
          await this.act(() => this.probes.resume());
          if (!this.stopping) this.open();
        })();
      });
    })();
  }

  private async act(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.failure ??= (err as Error).message;
    }
  }

  private account(): void {
    if (this.attachedSince === undefined) return;
    this.attachedMs += Date.now() - this.attachedSince;
    this.attachedSince = undefined;
  }

  /** No more windows, once the change under way is done; the probes stay as they are (the run detaches them). */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.halt();
    await this.changing;
    this.account();
    this.stoppedAt = Date.now();
  }

  /** No new window change from now on (a change under way finishes by itself). */
  halt(): void {
    this.stopping = true;
    clearTimeout(this.timer);
  }

  /** Time attached over the run so far, 0..1. */
  fraction(): number {
    const end = this.stoppedAt ?? Date.now();
    const open = this.attachedSince !== undefined ? end - this.attachedSince : 0;
    const total = end - this.startedAt;
    return total > 0 ? Math.min(1, (this.attachedMs + open) / total) : 1;
  }

  note(): string {
    const f = this.fraction();
    const total = ((this.stoppedAt ?? Date.now()) - this.startedAt) / 1000;
    const scale = f > 0 ? ` (scale counts and rates by ${(1 / f).toFixed(2)}×)` : '';
    const failed = this.failure ? `; a window change failed: ${this.failure}` : '';
    const wait = this.probes.linkKind === 'uprobe_multi' ? 'uprobe_multi links: the kernel waits for RCU grace periods once per link' : 'perf-event uprobes: the kernel waits for RCU grace periods once per uprobe';
    const out = this.pauses ? `; taking them out took ${Math.round(this.pauseMs / this.pauses)} ms a window (${wait}), counted as attached` : '';
    return `duty cycle: probes attached ${this.onMs} ms in every ${this.periodMs} ms, ${(100 * f).toFixed(1)}% of the ${total.toFixed(1)} s run in ${this.windows} window(s)${scale}${out}${failed}`;
  }
}
