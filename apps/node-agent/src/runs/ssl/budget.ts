/** Largest per-call capture the agent accepts: one TLS record, what the kernel side copies at most. */
export const MAX_DATA_BYTES_LIMIT = 16384;

/**
 * The job's limits on what leaves the node: at most `maxEvents` events, and at most
 * `maxTotalBytes` bytes of plaintext over the run. Calls past the event budget are only counted;
 * past the byte budget events still go, without their data (the event that crosses it keeps the
 * bytes that fit), and the withheld bytes are counted.
 */
export class CaptureBudget {
  /** calls past maxEvents: counted, not sent */
  overBudget = 0n;
  /** plaintext bytes withheld past maxTotalBytes */
  bytesOverBudget = 0n;
  private events = 0;
  private bytes = 0n;

  constructor(
    readonly maxEvents: number,
    readonly maxTotalBytes: bigint,
  ) {}

  get eventsAdmitted(): number {
    return this.events;
  }

  get bytesAdmitted(): bigint {
    return this.bytes;
  }

  /** No byte is left: callers may skip work on data that cannot go anyway. */
  get bytesExhausted(): boolean {
    return this.bytes >= this.maxTotalBytes;
  }

  /** One more call: true if it may be sent, false (and counted) past maxEvents. */
  admitEvent(): boolean {
    if (this.events >= this.maxEvents) {
      this.overBudget++;
      return false;
    }
    this.events++;
    return true;
  }

  /** The part of `data` that fits in what is left of the byte budget; `cut` when some was withheld. */
  takeBytes(data: Buffer): { data: Buffer; cut: boolean } {
    const left = this.maxTotalBytes - this.bytes;
    const size = BigInt(data.length);
    if (size <= left) {
      this.bytes += size;
      return { data, cut: false };
    }
    const keep = left > 0n ? Number(left) : 0;
    this.bytes += BigInt(keep);
    this.bytesOverBudget += size - BigInt(keep);
    return { data: data.subarray(0, keep), cut: true };
  }
}

/** Refuses limits the agent will not run with; returns the reason or undefined. */
export function checkLimits(spec: { maxDataBytes: number; maxEvents: number }): string | undefined {
  if (!Number.isInteger(spec.maxDataBytes) || spec.maxDataBytes < 1 || spec.maxDataBytes > MAX_DATA_BYTES_LIMIT) {
    return `maxDataBytes ${spec.maxDataBytes} is outside this agent's limit [1, ${MAX_DATA_BYTES_LIMIT}]`;
  }
  if (spec.maxEvents < 1) return `maxEvents ${spec.maxEvents} must be at least 1`;
  return undefined;
}
