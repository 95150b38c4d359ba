import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunCounts, RunProgress } from '../runs/tracing-run';

/** What the metrics read of a run: its progress (throws when the tracer cannot say). */
export interface MeteredRun {
  progress(): RunProgress;
}

type CountKey = keyof RunCounts;
const COUNT_KEYS: readonly CountKey[] = ['taken', 'droppedKernel', 'droppedAgent', 'sent'];
/** The in-kernel unwinder's reasons for cutting a stack short, as UnwindCounters names them, and their label. */
const CUT_REASONS = {
  cutNoMapping: 'no_mapping',
  cutNoRow: 'no_row',
  cutExpression: 'expression',
  cutDepth: 'depth',
  cutReadFault: 'read_fault',
  cutInvalid: 'invalid',
} as const;
type CutKey = keyof typeof CUT_REASONS;

interface LiveRun {
  jobType: string;
  kernelBytes: number;
  /** What was already added to the process-lifetime counters, so each scrape adds only the increase. */
  seen: Map<string, bigint>;
}

const COLLECT_ERRORS = 'tracefleet_agent_metrics_collect_errors_total';

/** Symbolize calls are microseconds to a few milliseconds (a perf map or a big ELF the first time). */
const SYMBOLIZE_BUCKETS = [1e-6, 5e-6, 2e-5, 1e-4, 5e-4, 2e-3, 1e-2, 5e-2, 0.25, 1];

/**
 * The agent's Prometheus metrics, in a registry of its own (not prom-client's global one). Run counters are
 * process-lifetime totals by job type: each scrape adds what the live runs counted since the previous one,
 * and a run's final counts are added when it ends, so they never go back. A collector that fails is counted
 * in tracefleet_agent_metrics_collect_errors_total; the scrape goes on with the rest.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly live = new Map<MeteredRun, LiveRun>();
  private readonly jobTypes: readonly string[];
  private readonly runsActive: Gauge<'job_type'>;
  private readonly mapBytes: Gauge<'job_type'>;
  private readonly ringFill: Gauge<'job_type'>;
  private readonly ringPeak: Gauge<'job_type'>;
  private readonly linkUp: Gauge;
  private readonly runsStarted: Counter<'job_type'>;
  private readonly counters: Record<CountKey, Counter<'job_type'>>;
  private readonly unwindStacks: Counter<'job_type'>;
  private readonly unwindCut: Counter<'job_type' | 'reason'>;
  private readonly collectErrors: Counter<'collector'>;
  readonly symbolizeSeconds: Histogram;

  constructor(opts: { jobTypes: readonly string[]; linkUp: () => boolean; defaultMetrics?: boolean }) {
    this.jobTypes = opts.jobTypes;
    const r = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.runsActive = new Gauge({ name: 'tracefleet_agent_runs_active', help: 'Runs going on this node, by job type', labelNames: ['job_type'], registers: r });
    this.mapBytes = new Gauge({
      name: 'tracefleet_agent_bpf_map_estimated_bytes',
      help: "Kernel memory the running runs' BPF maps may take, as the agent estimates it for its policy (shared unwind tables excluded)",
      labelNames: ['job_type'],
      registers: r,
    });
    this.ringFill = new Gauge({
      name: 'tracefleet_agent_ring_buffer_fill_ratio',
      help: "The fullest live run's ring buffer at scrape time (bytes written and not yet read / ring size), by job type; 0 with none",
      labelNames: ['job_type'],
      registers: r,
    });
    this.ringPeak = new Gauge({
      name: 'tracefleet_agent_ring_buffer_peak_fill_ratio',
      help: 'The most any live run found waiting in its ring buffer before a poll, since it started (/ ring size), by job type; near 1 means drops are close',
      labelNames: ['job_type'],
      registers: r,
    });
    const linkUp = opts.linkUp;
    this.linkUp = new Gauge({
      name: 'tracefleet_agent_link_up',
      help: "1 while the agent's session with a controller is registered, else 0",
      registers: r,
      collect() {
        this.set(linkUp() ? 1 : 0);
      },
    });
    this.runsStarted = new Counter({ name: 'tracefleet_agent_runs_started_total', help: 'Runs admitted and started on this node, by job type', labelNames: ['job_type'], registers: r });
    const counter = (name: string, help: string): Counter<'job_type'> => new Counter({ name, help, labelNames: ['job_type'], registers: r });
    this.counters = {
      taken: counter('tracefleet_agent_samples_taken_total', 'Samples or events the tracers took, by job type'),
      droppedKernel: counter('tracefleet_agent_samples_dropped_kernel_total', 'Samples or events dropped in the kernel (ring buffer full), by job type'),
      droppedAgent: counter('tracefleet_agent_samples_dropped_agent_total', 'Samples or events dropped in the agent (native queue or aggregation bounds), by job type'),
      sent: counter('tracefleet_agent_samples_sent_total', 'Samples or events the runs handed to the outbox for the controller, by job type'),
    };
    this.unwindStacks = counter('tracefleet_agent_unwind_stacks_total', 'User stacks the in-kernel DWARF unwinder walked, by job type');
    this.unwindCut = new Counter({
      name: 'tracefleet_agent_unwind_stacks_cut_total',
      help: 'User stacks the in-kernel unwinder cut short, by job type and reason',
      labelNames: ['job_type', 'reason'],
      registers: r,
    });
    this.symbolizeSeconds = new Histogram({
      name: 'tracefleet_agent_symbolize_duration_seconds',
      help: 'Time of one symbolize call (one stack, user or kernel part)',
      buckets: SYMBOLIZE_BUCKETS,
      registers: r,
    });
    this.collectErrors = new Counter({
      name: COLLECT_ERRORS,
      help: 'Collectors that failed during a scrape (the scrape went on without them), by collector',
      labelNames: ['collector'],
      registers: r,
    });
    for (const t of this.jobTypes) {
      // Every job type present from the first scrape, at 0, so rates and "back to 0" need no absent series.
      this.runsActive.set({ job_type: t }, 0);
      this.mapBytes.set({ job_type: t }, 0);
      this.ringFill.set({ job_type: t }, 0);
      this.ringPeak.set({ job_type: t }, 0);
      this.runsStarted.inc({ job_type: t }, 0);
      for (const k of COUNT_KEYS) this.counters[k].inc({ job_type: t }, 0);
    }
  }

  runStarted(run: MeteredRun, jobType: string, kernelBytes: number): void {
    this.live.set(run, { jobType, kernelBytes, seen: new Map() });
    this.runsStarted.inc({ job_type: jobType });
  }

  /** The run has finished (its progress is now its final counts): adds what it counted since the last scrape and forgets it. */
  runEnded(run: MeteredRun): void {
    const live = this.live.get(run);
    if (!live) return;
    this.live.delete(run);
    this.addProgress(run, live);
  }

  /** The Prometheus text of every metric; never rejects. */
  async scrape(): Promise<string> {
    this.syncRuns();
    const parts: string[] = [];
    for (const metric of this.registry.getMetricsAsArray()) {
      if (metric.name === COLLECT_ERRORS) continue;
      try {
        parts.push(await this.registry.getSingleMetricAsString(metric.name));
      } catch {
        this.collectErrors.inc({ collector: metric.name });
      }
    }
    parts.push(await this.registry.getSingleMetricAsString(COLLECT_ERRORS));
    return `${parts.join('\n\n')}\n`;
  }

  private syncRuns(): void {
    const active = new Map<string, number>();
    const bytes = new Map<string, number>();
    const fill = new Map<string, number>();
    const peak = new Map<string, number>();
    const most = (m: Map<string, number>, t: string, v: number): void => void m.set(t, Math.max(m.get(t) ?? 0, v));
    for (const [run, live] of this.live) {
      active.set(live.jobType, (active.get(live.jobType) ?? 0) + 1);
      bytes.set(live.jobType, (bytes.get(live.jobType) ?? 0) + live.kernelBytes);
      const ring = this.addProgress(run, live)?.ring;
      if (ring && ring.sizeBytes > 0) {
        most(fill, live.jobType, Math.min(1, ring.availBytes / ring.sizeBytes));
        most(peak, live.jobType, Math.min(1, ring.peakBytes / ring.sizeBytes));
      }
    }
    for (const t of new Set([...this.jobTypes, ...active.keys()])) {
      this.runsActive.set({ job_type: t }, active.get(t) ?? 0);
      this.mapBytes.set({ job_type: t }, bytes.get(t) ?? 0);
      this.ringFill.set({ job_type: t }, fill.get(t) ?? 0);
      this.ringPeak.set({ job_type: t }, peak.get(t) ?? 0);
    }
  }

  /** Adds what the run counted since last seen; its progress, or undefined when it could not say. */
  private addProgress(run: MeteredRun, live: LiveRun): RunProgress | undefined {
    let p: RunProgress;
    try {
      p = run.progress();
    } catch {
      this.collectErrors.inc({ collector: 'run_progress' });
      return undefined;
    }
    const job_type = live.jobType;
    for (const k of COUNT_KEYS) this.counters[k].inc({ job_type }, this.increase(live, k, p.counts[k]));
    if (!p.unwind) return p;
    this.unwindStacks.inc({ job_type }, this.increase(live, 'stacks', p.unwind.stacks));
    for (const k of Object.keys(CUT_REASONS) as CutKey[]) {
      const by = this.increase(live, k, p.unwind[k]);
      if (by > 0) this.unwindCut.inc({ job_type, reason: CUT_REASONS[k] }, by);
    }
    return p;
  }

  /** How much a run's counter grew since last seen (never negative: a counter a tracer reset is not taken back). */
  private increase(live: LiveRun, key: string, now: bigint | undefined): number {
    if (now === undefined) return 0;
    const before = live.seen.get(key) ?? 0n;
    if (now <= before) return 0;
    live.seen.set(key, now);
    return Number(now - before);
  }
}

/** The symbolizer a run gets, timing each call into the histogram; everything else is the symbolizer's own. */
export function timedSymbolizer<T extends object>(symbolizer: T, histogram: Histogram): T {
  return new Proxy(symbolizer, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'symbolizeUser' && prop !== 'symbolizeKernel') return value.bind(target);
      return (...args: unknown[]) => {
        const end = histogram.startTimer();
        try {
          return value.apply(target, args);
        } finally {
          end();
        }
      };
    },
  });
}
