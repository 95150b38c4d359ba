import type { SslRawEvent, SslStats, SslTracer, SslTracerOptions, RingFill, Symbolizer, UnwindCounters } from '@tracefleet/native';
import { RunEventKind, SslDirection, type SslCaptureSpec, type SslEvent, type StartRun } from '@tracefleet/proto';
import type { AgentConfig } from '../../config';
import type { ElfError } from '../../lib/elf';
import { MAX_COMM_BYTES } from '../../lib/kernel-limits';
import { listPids, OriginCache, processExists, readComm, tgidOf } from '../../lib/proc';
import { placeSslProbes, type SslProbeSites } from '../../probes/placement';
import { CaptureBudget, checkLimits } from './budget';
import { directionOf, measureClockOffset, sslRingBytes, toSslEvent, type Prepared } from './capture-helpers';
import { ProbeFailure, SslProbeSet } from './probe-set';
import { DutyCycle } from './duty-cycle';
import { OriginTable } from '../origin-table';
import { GroupTarget, pidListSink } from '../group-target';
import { inspectBinary, scanProcess, systemLibssl, type ProcessScan, type SslFile } from './discovery';
import { compileRules, RedactionRuleError, Redactor } from './redact';
import { headOf, kernelFilter, type KernelFilter } from './content-filter';
import { ensureTracefs } from '../../lib/tracefs';
import type { UnwindService } from '../../unwind/unwind-service';
import { PythonFrames, userFramesOf } from '../python/python-frames';
import { StringTable } from '../string-table';
import { RunRejected, TracingRun, type Attach, type MessageSink, type RunCounts } from '../tracing-run';

export interface SslNativeParts {
  createSslTracer(opts: Omit<SslTracerOptions, 'objectPath'>): SslTracer;
  unwind?: UnwindService;
  createSymbolizer(): Symbolizer;
}

/** What the run finds on the host; the real functions unless a test stands in. */
export interface SslHostParts {
  placeSslProbes(path: string, fns: string[]): Map<string, SslProbeSites | ElfError>;
  systemLibssl(): SslFile[];
}

const realHost: SslHostParts = { placeSslProbes, systemLibssl };

/** Events are sent about this often, and as soon as a batch is full. */
const FLUSH_MS = 200;
/** Processes are looked at again this often for new TLS library files. */
const RESCAN_MS = 500;
const BATCH_EVENTS = 1000;
const BATCH_BYTES = 1 << 20;
/** What the agent holds between sends (the link applies backpressure); past it events are dropped and counted. */
const MAX_PENDING_EVENTS = 20_000;
const MAX_PENDING_BYTES = 64 << 20;
export { MAX_FILES } from './probe-set';
const MAX_NO_OPENSSL = 100;
const MAX_WARNINGS = 20;
/** Memory the native queue may hold (each queued event holds its data). */
const NATIVE_QUEUE_BYTES = 64 << 20;

/**
 * One ssl-capture run: find where the TLS libraries (OpenSSL, GnuTLS) live for the target (and keep looking while it runs),
 * put an entry and a return probe on each of SSL_read/SSL_write(_ex) there, and stream the
 * plaintext of each call, redacted and within the job's budgets, then report the counts.
 */
export class SslCaptureRun extends TracingRun {
  private spec!: SslCaptureSpec;
  private tracer: SslTracer | undefined;
  private symbolizer: Symbolizer | undefined;
  private python: PythonFrames | undefined;
  private redactor: Redactor | undefined;
  private budget!: CaptureBudget;
  private filter!: KernelFilter;
  private mode: 'pid' | 'comm' | 'all' | 'group' = 'all';
  private group: GroupTarget | undefined;
  private readonly origins = new OriginCache();
  private tgid: number | undefined;
  private comm: string | undefined;
  private clockOffsetNs = 0n;

  private probes: SslProbeSet | undefined;
  private duty: DutyCycle | undefined;
  private readonly noOpenssl: string[] = [];
  private noOpensslMore = 0;
  private readonly notedPids = new Set<number>();
  /** processes given to setNssLayer (forgotten when they exit) */
  private readonly nssPids = new Set<number>();
  /** warnings raised before the STARTED event goes out wait for the first flush */
  private heldWarnings: string[] | undefined = [];
  private warnings = 0;
  /** pid → the comm it had when last looked at (a changed comm means an exec: look again) */
  private readonly seen = new Map<number, string>();
  private lastRescan = 0;

  private pending: Prepared[] = [];
  private pendingBytes = 0;
  private pendingDropped = 0n;
  private draining: Promise<void> | undefined;
  private sent = 0n;
  private truncatedSent = 0n;
  private redactions = 0n;
  private lostSeen = 0n;
  private stats: SslStats | undefined;

  constructor(
    start: StartRun,
    cfg: AgentConfig,
    sink: MessageSink,
    private readonly native: SslNativeParts,
    log: (msg: string) => void,
    private readonly host: SslHostParts = realHost,
  ) {
    super(start, cfg, sink, log);
  }

  protected override flushIntervalMs(): number {
    return FLUSH_MS;
  }

  protected async open(): Promise<Attach> {
    const { spec, target } = this.start;
    if (spec?.$case !== 'sslCapture') throw new RunRejected('this agent got a start message without an ssl-capture spec');
    this.spec = spec.value;
    const limit = checkLimits(this.spec);
    if (limit) throw new RunRejected(limit);
    this.budget = new CaptureBudget(this.spec.maxEvents, this.spec.maxTotalBytes);
    const filter = kernelFilter(this.spec);
    if (typeof filter === 'string') throw new RunRejected(filter);
    this.filter = filter;
    if (!this.spec.redactionOff) {
      try {
        this.redactor = new Redactor(compileRules(this.spec.redactHeaders, this.spec.redactPatterns));
      } catch (err) {
        if (err instanceof RedactionRuleError) throw new RunRejected(err.message);
        throw err;
      }
    }

    const kind = target?.kind;
    let initial: ProcessScan[] = [];
    if (kind?.$case === 'pid') {
      this.mode = 'pid';
      if (!processExists(kind.value)) throw new RunRejected(`target pid ${kind.value} does not exist on node ${this.cfg.nodeName}`);
      this.tgid = tgidOf(kind.value) ?? kind.value;
      if (this.tgid === process.pid) throw new RunRejected(`target pid ${kind.value} is this agent; it never traces itself`);
      initial = [scanProcess(this.tgid)];
    } else if (kind?.$case === 'comm') {
      this.mode = 'comm';
      this.comm = kind.value;
      if (Buffer.byteLength(this.comm) < 1 || Buffer.byteLength(this.comm) > MAX_COMM_BYTES) {
        throw new RunRejected(`target comm "${this.comm}" must be 1 to ${MAX_COMM_BYTES} bytes (the kernel keeps at most ${MAX_COMM_BYTES})`);
      }
    } else if (kind?.$case === 'all') {
      this.mode = 'all';
    } else if ((this.group = GroupTarget.from(target, this.cfg.nodeName))) {
      this.mode = 'group';
    } else {
      throw new RunRejected('the start message names no target');
    }
    if (this.mode !== 'pid') {
      // What is seen here is scanned now; whatever starts later, by the rescans.
      const members = this.group?.memberSet();
      for (const pid of listPids()) {
        const comm = readComm(pid);
        if (pid === process.pid || comm === undefined) continue;
        this.seen.set(pid, comm);
        if (members ? members.has(pid) : this.mode === 'all' || comm === this.comm) initial.push(scanProcess(pid));
      }
    }

    // The job's files first: a missing one fails the run naming it.
    let binaries: SslFile[];
    try {
      binaries = this.spec.binaries.map((b) => inspectBinary(b));
    } catch (err) {
      throw new RunRejected((err as Error).message);
    }
    if (this.mode === 'pid') {
      const scan = initial[0];
      if (scan.files.length === 0) {
        if (binaries.length === 0) throw new RunRejected(scan.reason ?? `pid ${this.tgid}: no TLS library found`);
        this.noteNoOpenssl(scan);
      }
    }

    const maxDataBytes = this.spec.maxDataBytes;
    // 'all' gets tables process by process as samples miss; a pid or comm target before attaching.
    const named = this.mode === 'all' ? [] : initial.map((scan) => scan.pid);
    const unwinder = this.spec.userStacks ? await this.useUnwinder(this.native.unwind, named) : undefined;
    // The port filter's syscall tracepoints: libbpf reads their ids from tracefs.
    if (filter.ports.length > 0) ensureTracefs();
    const readPython = this.spec.userStacks && this.cfg.pythonFrames;
    this.tracer = this.native.createSslTracer({
      unwinder,
      maxDataBytes,
      captureStacks: this.spec.userStacks,
      python: readPython,
      ...(this.mode === 'pid' ? { pids: [this.tgid!] } : {}),
      ...(this.mode === 'comm' ? { comm: this.comm } : {}),
      // A group: the kernel compares cgroup ids (v2), or keeps the pid set the group's scans give (v1).
      ...(this.group?.filter.targetCgroup ? { targetCgroup: this.group.filter.targetCgroup } : this.group ? { pids: [] } : {}),
      // The agent's own gRPC may run over node's static OpenSSL: never trace it.
      excludePids: [process.pid],
      ...(filter.prefixes.length ? { prefixes: filter.prefixes } : {}),
      ...(filter.messageStarts.length ? { messageStarts: filter.messageStarts } : {}),
      ...(filter.ports.length ? { ports: filter.ports } : {}),
      ringBufferBytes: sslRingBytes(maxDataBytes, this.spec.userStacks),
      perOffsetLinks: this.cfg.uprobeLinks === 'per-offset',
      maxQueuedEvents: Math.max(1024, Math.min(65536, Math.floor(NATIVE_QUEUE_BYTES / (maxDataBytes + 1024)))),
      onEvents: (events) => this.onEvents(events),
    });
    if (this.spec.userStacks) this.symbolizer = this.native.createSymbolizer();
    // Processes found later get their layout as their first events arrive (onEvents).
    if (readPython) (this.python = new PythonFrames(this.tracer)).see(named);
    this.clockOffsetNs = measureClockOffset();
    this.group?.follow(pidListSink((pids) => this.tracer!.setPids(pids)));
    const tracer = this.tracer;
    return () => {
      tracer.start();
      this.probes = new SslProbeSet(tracer, {
        place: (path, fns) => this.host.placeSslProbes(path, fns),
        handshakes: this.spec.handshakes,
        ...(this.mode === 'pid' ? { pid: this.tgid! } : {}),
        warn: (m) => this.warn(m),
        log: (m) => this.log(`run ${this.runId}: ${m}`),
      });

      // A file the job names must work; of the files found, those that work are enough.
      try {
        for (const f of binaries) this.attachFile(f, true);
      } catch (err) {
        if (err instanceof ProbeFailure) throw new RunRejected(err.message);
        throw err;
      }
      if (this.mode === 'pid') {
        this.adoptScan(initial[0]);
      } else {
        // Processes started later map the system libssl too: covered from the first moment.
        for (const f of this.host.systemLibssl()) this.attachFile(f, false);
        for (const scan of initial) this.adoptScan(scan);
      }
      if (this.probes.size === 0) {
        const reasons = [...this.probes.failures, ...this.noOpenssl];
        const why = reasons.length ? `: ${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? '; ...' : ''}` : '';
        throw new RunRejected(`no TLS library file could be probed for this target on node ${this.cfg.nodeName}${why}`);
      }
      this.lastRescan = Date.now();
      const who = this.mode === 'pid' ? `pid ${this.tgid}` : this.mode === 'comm' ? `processes named ${this.comm}` : this.group ? `the processes of ${this.group.describe()}` : 'every process';
      const paths = this.probes.paths();
      const on = this.spec.dutyOnMs ?? 0;
      const period = this.spec.dutyPeriodMs ?? 0;
      if (on > 0 && period > on) (this.duty = new DutyCycle(on, period, this.probes)).start();
      const cycle = this.duty ? `, probes attached ${on} ms in every ${period} ms` : '';
      const kept = filter.describe ? `, ${filter.describe}` : '';
      return {
        message: `capturing TLS plaintext of ${who} (up to ${maxDataBytes} bytes per call${kept}, redaction ${this.redactor ? 'on' : 'OFF'}${cycle}) through ${paths.join(', ')} (${tracer.linkKind} uprobe links)`,
        watchPid: this.tgid,
      };
    };
  }

  private noteNoOpenssl(scan: ProcessScan): void {
    if (scan.gone || !scan.reason || this.notedPids.has(scan.pid)) return;
    this.notedPids.add(scan.pid);
    if (this.noOpenssl.length < MAX_NO_OPENSSL) this.noOpenssl.push(scan.reason);
    else this.noOpensslMore++;
  }

  /** Attaches the TLS library files a process maps that are not attached yet (NSS: with its libssl3.so span), or notes that it has none. */
  private adoptScan(scan: ProcessScan): void {
    if (scan.files.length === 0) {
      if (!scan.kernelThread) this.noteNoOpenssl(scan);
      return;
    }
    this.noteNss(scan);
    for (const f of scan.files) this.attachFile(f, false);
  }

  /** NSS: where the process maps libssl3.so, so that the kernel keeps PR_Read and friends on its SSL descriptors only. */
  private noteNss(scan: ProcessScan): void {
    if (!scan.nssLayer || !this.tracer) return;
    try {
      this.tracer.setNssLayer(scan.pid, scan.nssLayer.lo, scan.nssLayer.hi);
      this.nssPids.add(scan.pid);
    } catch (err) {
      this.warn(`pid ${scan.pid}: its NSS connections cannot be captured: ${(err as Error).message}`);
    }
  }

  private attachFile(file: SslFile, fatal: boolean): void {
    this.probes!.add(file, fatal);
  }

  private warn(message: string): void {
    this.log(`run ${this.runId}: ${message}`);
    if (++this.warnings > MAX_WARNINGS) return; // the report lists them all
    if (this.heldWarnings) this.heldWarnings.push(message);
    else this.event(RunEventKind.RUN_EVENT_KIND_WARNING, message).catch(() => undefined);
  }

  /**
   * New processes of the target (and the target's newly loaded libraries) get their TLS library files
   * probed. For comm and all targets only new pids, and pids whose comm changed (an exec), are
   * read: a process already looked at that loads a private libssl later is not seen (the system
   * libssl, probed from the start, covers the usual case).
   */
  private rescan(): void {
    if (this.mode === 'pid') {
      // libraries loaded since (Python imports ssl on first use)
      if (this.tgid !== undefined && processExists(this.tgid)) this.adoptScan(scanProcess(this.tgid));
      return;
    }
    const alive = new Set<number>();
    const members = this.group?.memberSet();
    for (const pid of listPids()) {
      alive.add(pid);
      if (pid === process.pid) continue;
      const comm = readComm(pid);
      if (comm === undefined || this.seen.get(pid) === comm) continue;
      this.seen.set(pid, comm);
      if ((this.mode === 'comm' && comm !== this.comm) || (members && !members.has(pid))) continue;
      this.adoptScan(scanProcess(pid));
    }
    for (const pid of this.seen.keys()) if (!alive.has(pid)) this.seen.delete(pid);
    for (const pid of this.nssPids) {
      if (alive.has(pid)) continue;
      this.nssPids.delete(pid);
      this.tracer?.setNssLayer(pid, 0n, 0n);
    }
  }

  private onEvents(events: SslRawEvent[]): void {
    this.duty?.tick();
    this.checkLosses();
    this.python?.seeSamples(events);
    for (const e of events) {
      if (this.pending.length >= MAX_PENDING_EVENTS || this.pendingBytes >= MAX_PENDING_BYTES) {
        this.pendingDropped++;
        this.redactor?.lostSync(e.pid, e.ssl);
        continue;
      }
      if (e.fn === 'SSL_do_handshake') this.redactor?.reset(e.pid, e.ssl);
      if (!this.budget.admitEvent()) continue;
      const p = this.prepare(e);
      this.pending.push(p);
      this.pendingBytes += p.data.length;
    }
    if (this.pending.length >= BATCH_EVENTS || this.pendingBytes >= BATCH_BYTES) this.drainFullBatches();
  }

  /** Redaction, then the byte budget: what of one call's bytes may leave the node. */
  private prepare(e: SslRawEvent): Prepared {
    let data = e.data;
    let redactions = 0;
    let cut = false;
    const dir = directionOf(e.fn);
    const side = dir === SslDirection.SSL_DIRECTION_READ ? 'read' : 'write';
    if (this.filter.messageStarts.length > 0 && dir !== SslDirection.SSL_DIRECTION_HANDSHAKE) {
      ({ data, cut } = headOf(data));
      if (e.skippedCalls > 0) this.redactor?.skipped(e.pid, e.ssl, side);
    }
    if (data.length > 0 && this.redactor && !this.budget.bytesExhausted) {
      if (dir !== SslDirection.SSL_DIRECTION_HANDSHAKE) {
        const r = this.redactor.redact({ pid: e.pid, ssl: e.ssl, direction: side, data, length: e.length });
        data = r.data;
        redactions = r.redactions;
      }
    }
    const taken = this.budget.takeBytes(data);
    this.redactions += BigInt(redactions);
    const stack = this.symbolizer ? userFramesOf(e, this.symbolizer, this.python) : [];
    return { raw: e, data: taken.data, truncated: e.truncated || e.readError || taken.cut || cut, redactions, stack, origin: this.origins.originOf(e.pid, e.comm) };
  }

  /** Calls lost in the kernel or the native queue: h2 frame positions are unknown from here. */
  private checkLosses(): void {
    if (!this.redactor || !this.tracer) return;
    const s = this.tracer.stats();
    const lost = s.kernelDrops + s.queueDrops;
    if (lost !== this.lostSeen) {
      this.lostSeen = lost;
      this.redactor.lostSync();
    }
  }

  private takeBatch(): Prepared[] {
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && n < BATCH_EVENTS && (n === 0 || bytes + this.pending[n].data.length <= BATCH_BYTES)) {
      bytes += this.pending[n].data.length;
      n++;
    }
    this.pendingBytes -= bytes;
    return this.pending.splice(0, n);
  }

  /** Sends full batches as they fill, so a burst waits in gRPC's serialized form, under its flow control. */
  private drainFullBatches(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.pending.length >= BATCH_EVENTS || this.pendingBytes >= BATCH_BYTES) await this.sendBatch(this.takeBatch());
    })()
      .catch((err: Error) => this.log(`run ${this.runId}: sending events failed: ${err.message}`))
      .finally(() => (this.draining = undefined));
  }

  protected async flush(): Promise<void> {
    const held = this.heldWarnings;
    this.heldWarnings = undefined;
    for (const w of held ?? []) await this.event(RunEventKind.RUN_EVENT_KIND_WARNING, w);
    if (this.tracer && Date.now() - this.lastRescan >= RESCAN_MS) {
      this.lastRescan = Date.now();
      this.rescan();
    }
    await this.draining;
    while (this.pending.length > 0) await this.sendBatch(this.takeBatch());
  }

  private async sendBatch(batch: Prepared[]): Promise<void> {
    if (batch.length === 0) return;
    const table = new StringTable();
    const origins = new OriginTable();
    const events: SslEvent[] = batch.map((p) => toSslEvent(p, table, origins.index(p.origin), this.clockOffsetNs, this.probes?.pathOf(p.raw.attachId) ?? ''));
    this.sent += BigInt(events.length);
    for (const e of events) if (e.truncated) this.truncatedSent++;
    await this.sink.send({ msg: { $case: 'sslEvents', value: { runId: this.runId, seq: this.nextSeq(), strings: table.strings, events, origins: origins.list } } });
  }

  protected async stopTracing(): Promise<void> {
    await this.duty?.stop();
    await this.probes?.settled();
    this.stats = await this.tracer!.stop();
  }

  protected override async report(): Promise<void> {
    const s = this.stats!;
    const noOpenssl = [...this.noOpenssl];
    if (this.noOpensslMore > 0) noOpenssl.push(`... and ${this.noOpensslMore} more processes without a covered TLS library`);
    const attached = this.probes?.report() ?? [];
    await this.sink.send({
      msg: {
        $case: 'sslReport',
        value: {
          runId: this.runId,
          eventsSeen: s.eventsSeen,
          eventsSent: this.sent,
          droppedKernel: s.kernelDrops,
          droppedAgent: s.queueDrops + this.pendingDropped,
          overBudget: this.budget.overBudget,
          bytesOverBudget: this.budget.bytesOverBudget,
          truncatedEvents: this.truncatedSent,
          redactions: this.redactions,
          orphanReturns: s.orphanReturns,
          readErrors: s.readErrors,
          filteredCalls: s.filtered,
          skippedCalls: s.skipped,
          noSocketCalls: s.noSocket,
          attached,
          noOpenssl,
        },
      },
    });
  }

  /** As usdt counts: calls past the event budget were never meant to be sent, so they are not "taken". */
  protected counts(): RunCounts {
    const s = this.stats ?? this.tracer?.stats();
    const over = this.budget?.overBudget ?? 0n;
    return {
      taken: s ? s.eventsSeen - over : 0n,
      droppedKernel: s?.kernelDrops ?? 0n,
      droppedAgent: (s?.queueDrops ?? 0n) + this.pendingDropped,
      sent: this.sent,
    };
  }

  protected override unwindCounters(): UnwindCounters | undefined {
    return (this.stats ?? this.tracer?.stats())?.unwind;
  }

  protected override ringFill(): RingFill | undefined {
    return this.stats ? undefined : this.tracer?.stats().ring;
  }

  protected override notes(): string[] {
    return [...(this.duty ? [this.duty.note()] : []), ...(this.group?.notes() ?? []), ...(this.python?.notes((this.stats ?? this.tracer?.stats())?.python) ?? [])];
  }

  protected release(): void {
    this.group?.close();
    this.duty?.halt();
    const close = (): void => {
      try {
        this.probes?.detachAll();
      } catch (err) {
        this.log(`run ${this.runId}: detach failed (closing frees the probes anyway): ${(err as Error).message}`);
      }
      this.tracer?.close();
      this.symbolizer?.close();
      this.python?.close();
    };
    // A duty cycle's pause may still be taking probes out on a worker thread: close once it is done.
    if (this.probes?.busy) void this.probes.settled().then(close);
    else close();
  }
}
