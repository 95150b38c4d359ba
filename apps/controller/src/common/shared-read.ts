/**
 * Reads of the same thing, started close together, shared: a read for a key that started less than
 * `freshMs` ago (still under way, or done) is answered with that read instead of a new one. Several
 * readers polling the same key on their own cadence then cost one read per `freshMs` between them,
 * however many they are; what one of them sees is at most `freshMs` older than a read of its own.
 * A read that failed is not kept once it has failed: the next caller reads again.
 */
export class SharedReads<K, V> {
  private readonly reads = new Map<K, { at: number; value: Promise<V> }>();

  constructor(
    readonly freshMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(freshMs > 0)) throw new Error(`a shared read needs a freshness window above 0 ms, got ${freshMs}`);
  }

  /** Reads in flight or kept now (at most one per key). */
  get size(): number {
    return this.reads.size;
  }

  get(key: K, read: () => Promise<V>): Promise<V> {
    const t = this.now();
    // Reads past their window go first: the map holds the keys read within the last freshMs only.
    for (const [k, r] of this.reads) if (t - r.at >= this.freshMs) this.reads.delete(k);
    const kept = this.reads.get(key);
    if (kept) return kept.value;
    const entry = { at: t, value: read() };
    this.reads.set(key, entry);
    entry.value.catch(() => {
      if (this.reads.get(key) === entry) this.reads.delete(key);
    });
    return entry.value;
  }
}
