export interface IngestLimits {
  /** Result messages decoded and not yet applied, all sessions of this replica together. */
  maxMessages: number;
  /** Their wire bytes (a decoded batch takes a few times its wire size: BENCHMARKS.md, fleet). */
  maxBytes: number;
}

/**
 * What one replica holds of the agents' results: messages taken from any session (decoded) and not yet
 * stored. At the cap every session is held back (its stream paused: grpc-js stops reading it, and HTTP/2
 * flow control stops its agent), so a flood from thousands of agents costs at most the cap in decoded
 * messages, plus, per session, what a paused stream buffers encoded (agent.gateway.ts). Once half of
 * them are stored, held sessions are let go in the order they were held, one per free slot, so every
 * agent moves and no agent starves the others. A session's own per-agent limit (the backlog in the gateway) is
 * separate: `wants(s)` says whether the session itself still wants to read.
 */
export class IngestBudget<S> {
  private messages = 0;
  private bytes = 0;
  /** Sessions held back by this budget, in the order they were held (a Set keeps insertion order). */
  private readonly held = new Set<S>();
  private peakMessages = 0;
  private peakBytes = 0;
  /** Times the cap was reached (every session held). */
  saturations = 0;
  /** A command (job created, dispatched, stopped) runs: every session is held until it is done (`forCommand`). */
  private commandRunning = false;
  /** Times sessions were held for a command. */
  commandHolds = 0;
  /** Sessions a command waits on for an answer (a target check): a command does not hold them (`spare`). */
  private readonly spared = new Map<S, number>();

  constructor(
    readonly limits: IngestLimits,
    /** Every live session, to hold all of them at the cap. */
    private readonly sessions: () => Iterable<S>,
    /** Stops reading a session's stream. */
    private readonly pause: (s: S) => void,
    /** Reads it again (the session's own limits permitting: the caller decides). */
    private readonly resume: (s: S) => void,
  ) {}

  get inFlight(): { messages: number; bytes: number; held: number; peakMessages: number; peakBytes: number } {
    return { messages: this.messages, bytes: this.bytes, held: this.held.size, peakMessages: this.peakMessages, peakBytes: this.peakBytes };
  }

  /** Whether the budget holds this session back. */
  holds(s: S): boolean {
    return this.held.has(s);
  }

  /** A result message of `bytes` wire bytes was taken from `s`; call the returned function once it is applied. */
  take(s: S, bytes: number): () => void {
    this.messages++;
    this.bytes += bytes;
    this.peakMessages = Math.max(this.peakMessages, this.messages);
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    if (this.full()) this.holdAll();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.messages--;
      this.bytes -= bytes;
      this.letGo();
    };
  }

  /**
   * Commands first, also on the wire: while a command runs no session is read, so this replica's event loop
   * turns over quickly for the command's own steps (its queries' answers, the StartRuns going out) instead
   * of decoding and storing batches between them. Messages already taken go on being stored (through the
   * storage gate's foreground slots); once the command is done the held sessions go on as the budget allows.
   */
  forCommand(running: boolean): void {
    if (running === this.commandRunning) return;
    this.commandRunning = running;
    if (running) {
      this.commandHolds++;
      this.holdAll(false);
    } else {
      this.letGo();
    }
  }

  /**
   * An answer is awaited from `s` (the gateway's requests: a target check while a job is planned, a USDT
   * listing): no command holds it until the returned function is called, so the command is not left waiting
   * for an answer its own hold keeps unread. Held already for a command, it is read again now; at the cap
   * it stays held like every other session (the cap lets it go as writes finish).
   */
  spare(s: S): () => void {
    this.spared.set(s, (this.spared.get(s) ?? 0) + 1);
    if (this.commandRunning && this.held.has(s) && !this.full()) {
      this.held.delete(s);
      this.resume(s);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.spared.get(s) ?? 1) - 1;
      if (n > 0) this.spared.set(s, n);
      else this.spared.delete(s);
    };
  }

  /** A session ended: forget it. */
  forget(s: S): void {
    this.held.delete(s);
    this.spared.delete(s);
  }

  private full(): boolean {
    return this.messages >= this.limits.maxMessages || this.bytes >= this.limits.maxBytes;
  }

  private holdAll(saturated = true): void {
    if (saturated && this.held.size === 0) this.saturations++;
    for (const s of this.sessions()) {
      if (this.held.has(s) || (!saturated && this.spared.has(s))) continue;
      this.held.add(s);
      this.pause(s);
    }
  }

  /**
   * Once below half the cap: as many held sessions go on as there are free message slots (a session let
   * go delivers at least one message before it can be held again), oldest first. The half is hysteresis:
   * with thousands of sessions, letting one go per stored message would pause and resume streams (and
   * walk every session) once per message. With nothing left in flight every held session goes on: no
   * release would come to let the rest go (at the cap every session was held, and those let go may have
   * nothing to send), and each one let go can deliver one message before the cap holds them all again.
   */
  private letGo(): void {
    if (this.held.size === 0 || this.commandRunning || this.messages > this.limits.maxMessages / 2 || this.bytes > this.limits.maxBytes / 2) return;
    let room = this.messages === 0 ? Infinity : this.limits.maxMessages - this.messages;
    for (const s of this.held) {
      if (room <= 0) break;
      this.held.delete(s);
      this.resume(s);
      room--;
    }
  }
}
