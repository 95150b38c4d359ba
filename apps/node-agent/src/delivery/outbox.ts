/**
 * The agent's outbox: every message a run sends goes through it, so that nothing is lost while the
 * link to the controller is down. Each run's messages are numbered 1, 2, 3... (AgentMessage.delivery)
 * and kept until the controller acknowledges them (Ack); when a session is registered again,
 * everything not acknowledged is written again, in the order it was first queued. The controller
 * stores idempotently, so a message written twice counts once.
 *
 * Memory is bounded: past `memoryBytes` of unacknowledged messages, result batches go to a spool file
 * per run on disk, and past `spoolBytes` the newest batches are dropped and counted (RunFinished says
 * how many), while the oldest are kept. Events, reports and RunFinished are small and always kept.
 *
 * The spool only outlives an outage, not the agent: a restarted agent deletes what a previous process
 * left (its runs ended with it, and resuming them is out of scope).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AgentMessage } from '@tracefleet/proto';
import type { MessageSink } from '../runs/tracing-run';

export interface OutboxLink {
  /** True while registered on a session. */
  readonly connected: boolean;
  /** Writes one message on the current session (waits for the stream's drain); rejects when not connected. */
  send(msg: AgentMessage): Promise<void>;
}

export interface OutboxOptions {
  /** Bytes (encoded) of unacknowledged run messages kept in memory before batches go to the spool on disk. */
  memoryBytes: number;
  /** Bytes the spool files may take on disk; past it new result batches are dropped and counted (oldest kept). */
  spoolBytes: number;
  /** Directory of the spool files (created 0700 if missing; must not be a symlink; files 0600). */
  spoolDir: string;
  log: (msg: string) => void;
}

/** Totals, for logs and tests. */
export interface OutboxStats {
  /** Runs holding unacknowledged messages. */
  runs: number;
  /** Unacknowledged messages, in memory and spooled. */
  messages: number;
  /** Encoded bytes of the unacknowledged messages kept in memory. */
  memoryBytes: number;
  /** Bytes of the spool files on disk. */
  spoolBytes: number;
  /** Result batches written to the spool since the outbox was made. */
  spooled: number;
  /** Result batches dropped since the outbox was made (the spool was full or could not be written). */
  overflowed: number;
  /** The most bytes (memory and spool) held unacknowledged at once since the outbox was made. */
  peakBytes: number;
}

/**
 * The only run ids that become file names (a UUID's characters and length): a run id comes from the
 * controller, and one like "../../etc/x" must never name a path.
 */
const SPOOL_RUN_ID = /^[0-9a-f-]{36}$/i;

/** Messages that belong to no run: they are not numbered nor kept, and fail when the link is down. */
const NO_RUN: ReadonlySet<string> = new Set(['register', 'heartbeat', 'targetCheckResult', 'usdtListResult']);

/** One unacknowledged run message: the message itself, or where its bytes are in the run's spool file. */
interface Entry {
  delivery: bigint;
  /** Its place in the one queue of all runs: messages are written in the order they were queued. */
  order: number;
  /** Encoded size. */
  bytes: number;
  /** The message, while it is kept in memory. */
  msg?: AgentMessage;
  /** Where its encoded bytes start in the run's spool file, when it was spooled. */
  offset?: number;
}

interface RunState {
  readonly id: string;
  /** The last delivery number given. */
  delivery: bigint;
  /** The highest delivery number handed to the link, in any session: an ack past it is not believed. */
  written: bigint;
  /** Unacknowledged messages, in delivery order (acks forget a prefix of it). */
  queue: Entry[];
  /** Index in queue of the first message not written on the current session. */
  unsent: number;
  /** Result batches that went to the spool, and those dropped: RunFinished carries both. */
  spooled: bigint;
  overflowed: bigint;
  /** The spool file, open while it holds unacknowledged entries. */
  fd: number | undefined;
  /** Its size: where the next batch goes. */
  fileBytes: number;
  /** Its entries not acknowledged yet: the file is deleted when none remain. */
  fileEntries: number;
  /** Its RunFinished was queued: the state goes once that is acknowledged. */
  finished: boolean;
  /** Said in the log during this outage (once per run, not per batch). */
  saidSpooling: boolean;
  saidOverflow: boolean;
}

/** The run a message belongs to, or undefined when it belongs to none. */
function runIdOf(msg: AgentMessage): string | undefined {
  const m = msg.msg;
  if (!m || NO_RUN.has(m.$case)) return undefined;
  const runId = (m.value as { runId?: unknown }).runId;
  return typeof runId === 'string' && runId !== '' ? runId : undefined;
}

/** A result batch (numbered by seq): the bulk of a run's output, and what may be spooled or dropped. */
function isBatch(msg: AgentMessage): boolean {
  return typeof (msg.msg?.value as { seq?: unknown } | undefined)?.seq === 'bigint';
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(1);

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Writes all of bytes at position (a write to a regular file may be short). */
function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * Sits between the runs and the controller link: runs send() into it and never lose a message to an
 * outage; the agent tells it when sessions begin and end (onConnected, onDisconnected) and passes it
 * the controller's acks (onAck).
 */
export class Outbox implements MessageSink {
  private readonly runs = new Map<string, RunState>();
  /** Gives each queued message its place in the one queue of all runs. */
  private order = 0;
  /** Changes when a session begins or ends: a pump loop of an older session stops. */
  private session = 0;
  /** The session whose pump loop is running, or -1. */
  private pumping = -1;
  private inMemory = 0;
  private onDisk = 0;
  private spooledTotal = 0;
  private overflowedTotal = 0;
  private peakBytes = 0;
  /** The most held at once since the last session began: logged when the next one begins. */
  private outagePeakBytes = 0;
  private opened = false;
  private closed = false;
  private readonly waiters = new Set<(ok: boolean) => void>();

  constructor(
    private readonly link: OutboxLink,
    private readonly opts: OutboxOptions,
  ) {}

  /**
   * Prepares the spool directory and deletes what a previous agent process left in it. The directory
   * receives run results (decrypted TLS payloads among them), so it must be this user's own and not a
   * symbolic link that could point the files elsewhere.
   */
  open(): void {
    const dir = this.opts.spoolDir;
    // lstat first: a dangling symbolic link must be refused, not followed by mkdir.
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      st = fs.lstatSync(dir);
    }
    if (st.isSymbolicLink()) throw new Error(`outbox spool directory ${dir} is a symbolic link; give the real directory`);
    if (!st.isDirectory()) throw new Error(`outbox spool directory ${dir} is not a directory`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new Error(`outbox spool directory ${dir} is owned by uid ${st.uid}, not by this agent (uid ${uid})`);
    }
    if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
    let removed = 0;
    for (const name of fs.readdirSync(dir)) {
      if (!name.endsWith('.spool')) continue;
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    }
    if (removed > 0) this.opts.log(`outbox: deleted ${removed} spool file(s) a previous agent process left in ${dir} (their runs ended with it)`);
    this.opened = true;
    this.closed = false;
  }

  /** Stops writing and deletes this process's spool files (the agent is stopping). */
  close(): void {
    this.closed = true;
    this.opened = false;
    this.session++;
    for (const run of this.runs.values()) this.removeSpool(run);
  }

  /**
   * A message of no run goes to the link now (and fails as the link does). A run message is
   * numbered and queued, and this resolves once it is: the link being down is not its sender's
   * problem.
   */
  async send(msg: AgentMessage): Promise<void> {
    const runId = runIdOf(msg);
    if (runId === undefined) return this.link.send(msg);
    this.enqueue(runId, msg);
    this.kick();
  }

  /** A session is registered: everything not acknowledged is written again, from each run's first unacknowledged message. */
  onConnected(): void {
    const st = this.stats();
    if (st.messages > 0) {
      this.opts.log(
        `outbox: ${st.messages} message(s) of ${st.runs} run(s) not acknowledged go again (${kib(st.memoryBytes)} KiB in memory, ` +
          `${kib(st.spoolBytes)} KiB spooled; at most ${kib(this.outagePeakBytes)} KiB held since the last session began)`,
      );
    }
    this.outagePeakBytes = this.inMemory + this.onDisk;
    this.session++;
    for (const run of this.runs.values()) run.unsent = 0;
    this.kick();
  }

  /** The session ended: stop writing; what was not acknowledged goes again on the next one. */
  onDisconnected(): void {
    this.session++;
    for (const run of this.runs.values()) {
      run.saidSpooling = false;
      run.saidOverflow = false;
    }
  }

  /**
   * The controller applied every message of the run numbered up to `delivery`: forget them. An ack
   * for an unknown run, or past the highest number ever handed to the link, is ignored: whatever the
   * controller says, a message that was never written is not forgotten.
   */
  onAck(runId: string, delivery: bigint): void {
    const run = this.runs.get(runId);
    if (!run || typeof delivery !== 'bigint' || delivery > run.written) return;
    let n = 0;
    while (n < run.queue.length && run.queue[n].delivery <= delivery) this.release(run, run.queue[n++]);
    if (n === 0) return;
    run.queue.splice(0, n);
    run.unsent = Math.max(0, run.unsent - n);
    this.settle(run);
  }

  /** Runs with unacknowledged messages (Register names them, so the controller keeps their sessions). */
  heldRunIds(): string[] {
    return [...this.runs.values()].filter((run) => run.queue.length > 0).map((run) => run.id);
  }

  stats(): OutboxStats {
    let runs = 0;
    let messages = 0;
    for (const run of this.runs.values()) {
      if (run.queue.length === 0) continue;
      runs++;
      messages += run.queue.length;
    }
    return {
      runs,
      messages,
      memoryBytes: this.inMemory,
      spoolBytes: this.onDisk,
      spooled: this.spooledTotal,
      overflowed: this.overflowedTotal,
      peakBytes: this.peakBytes,
    };
  }

  /** Resolves true once every queued message was acknowledged, false when timeoutMs passes first. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.isDrained()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(done);
    });
  }

  private isDrained(): boolean {
    for (const run of this.runs.values()) if (run.queue.length > 0) return false;
    return true;
  }

  /**
   * Numbers the message and keeps it: in memory while the memory budget allows (and always when it is
   * not a result batch), else in the run's spool file, else, when the spool is full too, it is dropped
   * and counted. A dropped batch takes no number, so the numbers the controller sees have no gaps.
   */
  private enqueue(runId: string, msg: AgentMessage): void {
    const run = this.runs.get(runId) ?? newRun(runId);
    const delivery = run.delivery + 1n;
    msg.delivery = delivery;
    if (msg.msg?.$case === 'runFinished') {
      msg.msg.value.batchesSpooled = run.spooled;
      msg.msg.value.batchesOverflowed = run.overflowed;
    }
    const bytes = AgentMessage.encode(msg).finish();
    const entry: Entry = { delivery, order: this.order++, bytes: bytes.length };
    // A run id that cannot name a file stays in memory: better over the budget than a path from the controller.
    if (!isBatch(msg) || this.inMemory + bytes.length <= this.opts.memoryBytes || !SPOOL_RUN_ID.test(runId)) {
      entry.msg = msg;
      this.inMemory += bytes.length;
    } else {
      const refused = this.spool(run, bytes, entry);
      if (refused !== undefined) {
        msg.delivery = undefined;
        run.overflowed++;
        this.overflowedTotal++;
        if (!run.saidOverflow) {
          run.saidOverflow = true;
          this.opts.log(`outbox: run ${runId}: ${refused}; dropping its new result batches (the oldest are kept), RunFinished counts them`);
        }
        this.runs.set(runId, run);
        return;
      }
    }
    run.delivery = delivery;
    const held = this.inMemory + this.onDisk;
    if (held > this.peakBytes) this.peakBytes = held;
    if (held > this.outagePeakBytes) this.outagePeakBytes = held;
    if (msg.msg?.$case === 'runFinished') run.finished = true;
    run.queue.push(entry);
    this.runs.set(runId, run);
  }

  /** Appends a batch to its run's spool file; returns why it could not be, or undefined once it is there. */
  private spool(run: RunState, bytes: Uint8Array, entry: Entry): string | undefined {
    if (!this.opened) return 'the spool is not open';
    if (this.onDisk + bytes.length > this.opts.spoolBytes) return `the spool is full (${this.opts.spoolBytes} bytes on disk)`;
    try {
      run.fd ??= openSpoolFile(this.spoolPath(run.id));
      writeAll(run.fd, bytes, run.fileBytes);
    } catch (err) {
      if (run.fileEntries === 0) this.removeSpool(run);
      return `the spool cannot be written (${errText(err)})`;
    }
    entry.offset = run.fileBytes;
    run.fileBytes += bytes.length;
    run.fileEntries++;
    this.onDisk += bytes.length;
    run.spooled++;
    this.spooledTotal++;
    if (!run.saidSpooling) {
      run.saidSpooling = true;
      this.opts.log(`outbox: run ${run.id}: ${this.opts.memoryBytes} bytes of messages wait in memory; its result batches go to ${this.spoolPath(run.id)} until the controller acknowledges them`);
    }
    return undefined;
  }

  private spoolPath(runId: string): string {
    if (!SPOOL_RUN_ID.test(runId)) throw new Error('not a run id that can name a file');
    return path.join(this.opts.spoolDir, `${runId}.spool`);
  }

  /** Closes and deletes the run's spool file, if it has one. */
  private removeSpool(run: RunState): void {
    if (run.fd === undefined) return;
    fs.closeSync(run.fd);
    run.fd = undefined;
    this.onDisk -= run.fileBytes;
    run.fileBytes = 0;
    try {
      fs.rmSync(this.spoolPath(run.id), { force: true });
    } catch (err) {
      this.opts.log(`outbox: run ${run.id}: could not delete its spool file (${errText(err)})`);
    }
  }

  /** Frees what an entry held (memory at once; the spool file once none of its entries remain). */
  private release(run: RunState, entry: Entry): void {
    if (entry.msg) {
      entry.msg = undefined;
      this.inMemory -= entry.bytes;
    } else if (entry.offset !== undefined) {
      entry.offset = undefined;
      if (--run.fileEntries === 0) this.removeSpool(run);
    }
  }

  /**
   * Drops a run whose RunFinished was acknowledged (a run sends nothing after it, so its numbering is
   * not needed again), and wakes drained() when nothing is held.
   */
  private settle(run: RunState): void {
    if (run.finished && run.queue.length === 0) {
      this.removeSpool(run);
      this.runs.delete(run.id);
    }
    if (this.waiters.size > 0 && this.isDrained()) for (const done of [...this.waiters]) done(true);
  }

  /** Forgets one entry that can never be written (its spooled bytes cannot be read back). */
  private drop(run: RunState, entry: Entry): void {
    const at = run.queue.indexOf(entry);
    if (at < 0) return;
    run.queue.splice(at, 1);
    if (at < run.unsent) run.unsent--;
    this.release(run, entry);
    this.settle(run);
  }

  /** The message itself, read back and decoded from the spool file when it was spooled. */
  private load(run: RunState, entry: Entry): AgentMessage {
    if (entry.msg) return entry.msg;
    if (run.fd === undefined || entry.offset === undefined) throw new Error('its spool file is gone');
    const buf = Buffer.alloc(entry.bytes);
    const read = fs.readSync(run.fd, buf, 0, entry.bytes, entry.offset);
    if (read !== entry.bytes) throw new Error(`read ${read} of its ${entry.bytes} bytes from the spool`);
    return AgentMessage.decode(buf);
  }

  /** The oldest queued message (of all runs) not written on this session yet. */
  private nextUnsent(): { run: RunState; entry: Entry } | undefined {
    let next: { run: RunState; entry: Entry } | undefined;
    for (const run of this.runs.values()) {
      const entry = run.queue[run.unsent];
      if (entry && (!next || entry.order < next.entry.order)) next = { run, entry };
    }
    return next;
  }

  /** Starts a pump loop unless one is running for this session. */
  private kick(): void {
    if (this.closed || !this.link.connected || this.pumping === this.session) return;
    void this.pump(this.session);
  }

  /**
   * Writes the unsent messages one at a time, oldest first, while the session lasts. A loop belongs
   * to one session: a write that never completes on a dead stream (no drain) cannot hold up the next
   * session's loop, and a loop that wakes up after its session ended just stops.
   */
  private async pump(session: number): Promise<void> {
    this.pumping = session;
    try {
      while (session === this.session && this.link.connected) {
        const next = this.nextUnsent();
        if (!next) return;
        const { run, entry } = next;
        let msg: AgentMessage;
        try {
          msg = this.load(run, entry);
        } catch (err) {
          this.opts.log(`outbox: run ${run.id}: message ${entry.delivery} is lost: ${errText(err)}`);
          this.drop(run, entry);
          continue;
        }
        run.unsent++;
        // Counted as written before the write completes: the controller may ack it before the drain.
        if (entry.delivery > run.written) run.written = entry.delivery;
        try {
          await this.link.send(msg);
        } catch (err) {
          // The link is down (it calls onDisconnected), or a new session took over: stop.
          if (session !== this.session || !this.link.connected) return;
          // Still connected: the link refused this one message (its bounds). It stays queued and goes
          // again on the next session; the messages after it go now.
          this.opts.log(`outbox: run ${run.id}: message ${entry.delivery} not sent (${errText(err)}); it stays queued`);
        }
      }
    } finally {
      if (this.pumping === session) this.pumping = -1;
    }
  }
}

function newRun(id: string): RunState {
  return {
    id,
    delivery: 0n,
    written: 0n,
    queue: [],
    unsent: 0,
    spooled: 0n,
    overflowed: 0n,
    fd: undefined,
    fileBytes: 0,
    fileEntries: 0,
    finished: false,
    saidSpooling: false,
    saidOverflow: false,
  };
}

/** Creates a run's spool file, readable and writable by this user only, never through a symbolic link. */
function openSpoolFile(file: string): number {
  fs.rmSync(file, { force: true });
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  return fs.openSync(file, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
}
