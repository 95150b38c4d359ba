/**
 * Failed sign-ins per remote address in a fixed window: past `maxFailures` the address is refused (429)
 * until its window ends, right token or not, so guessing costs a window per few tries. In memory, per
 * replica: a client spreading guesses over N replicas gets N times the budget, which is still bounded,
 * and the tokens are 24+ random characters. Bounded in addresses: the oldest window is forgotten first.
 */
export class SignInLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    readonly maxFailures = 10,
    readonly windowMs = 60_000,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Milliseconds until `addr` may try again, or 0 when it may try now. */
  retryAfterMs(addr: string, now = Date.now()): number {
    const w = this.windows.get(addr);
    if (!w) return 0;
    const left = w.start + this.windowMs - now;
    if (left <= 0) {
      this.windows.delete(addr);
      return 0;
    }
    return w.failures >= this.maxFailures ? left : 0;
  }

  /** Counts one failed sign-in from `addr`. */
  fail(addr: string, now = Date.now()): void {
    const w = this.windows.get(addr);
    if (w && w.start + this.windowMs > now) {
      w.failures++;
      return;
    }
    this.windows.delete(addr);
    if (this.windows.size >= this.maxAddresses) this.prune(now);
    this.windows.set(addr, { start: now, failures: 1 });
  }

  /** Addresses tracked now (for tests). */
  get size(): number {
    return this.windows.size;
  }

  private prune(now: number): void {
    for (const [addr, w] of this.windows) if (w.start + this.windowMs <= now) this.windows.delete(addr);
    // Still full: forget the oldest windows (Map keeps insertion order).
    for (const addr of this.windows.keys()) {
      if (this.windows.size < this.maxAddresses) break;
      this.windows.delete(addr);
    }
  }
}
