import { Injectable, Logger } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { orAfter } from '../common/or-after';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
export const METRIC_PREFIX = 'tracefleet_controller_';
/** A collector that has not answered by then counts as failed: a hung database must not hang the scrape. */
export const COLLECT_TIMEOUT_MS = 2000;

export interface GaugeSample {
  labels?: Record<string, string>;
  value: number;
}
/** What a gauge shows, computed when it is scraped. */
export type GaugeSource = () => Promise<GaugeSample[]> | GaugeSample[];

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return orAfter(work, ms, (): never => {
    throw new Error(`${what} did not answer within ${ms} ms`);
  });
}

/**
 * This process's Prometheus metrics, on a registry of its own (not prom-client's global one, so each
 * spec builds its own). Counters are moved where things happen (runs/ when a batch is stored); gauges
 * are computed at each scrape (before the text is rendered) by sources the owning folders register (health/metrics-sources.ts). A
 * source that throws or hangs never fails the scrape: its gauge is left empty, the failure is counted
 * in tracefleet_controller_collect_errors_total and logged once per collector.
 */
@Injectable()
export class ControllerMetrics {
  private readonly log = new Logger(ControllerMetrics.name);
  readonly registry = new Registry();
  private readonly failedOnce = new Set<string>();
  private readonly refreshers: (() => Promise<void>)[] = [];

  readonly batchesStored: Counter<string>;
  readonly samplesStored: Counter<string>;
  readonly storeRetries: Counter<string>;
  readonly storeFailures: Counter<'outcome'>;
  readonly batchStoreSeconds: Histogram<string>;
  readonly collectErrors: Counter<'collector'>;
  readonly dispatchStepSeconds: Histogram<'step'>;
  readonly forwardedStarts: Counter<'via' | 'outcome'>;
  readonly remoteCommandHolds: Counter<'outcome'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    this.batchesStored = new Counter({ name: `${METRIC_PREFIX}batches_stored_total`, help: 'Result batches stored (a coalesced write counts each of its batches).', registers });
    this.samplesStored = new Counter({ name: `${METRIC_PREFIX}samples_stored_total`, help: 'Samples or events kept by stored batches.', registers });
    this.storeRetries = new Counter({ name: `${METRIC_PREFIX}store_retries_total`, help: 'Batch stores tried again after a transient database error.', registers });
    this.storeFailures = new Counter({
      name: `${METRIC_PREFIX}store_failures_total`,
      help: 'Batch stores that failed every attempt: left_to_agent (it sends them again) or not_stored (counted on the run).',
      labelNames: ['outcome'],
      registers,
    });
    this.batchStoreSeconds = new Histogram({
      name: `${METRIC_PREFIX}batch_store_duration_seconds`,
      help: 'Time to store one write of result batches, waiting for the storage gate and retries included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.dispatchStepSeconds = new Histogram({
      name: `${METRIC_PREFIX}dispatch_step_duration_seconds`,
      help:
        'Steps of a new job on the replica that took it: plan (nodes picked), store (job and runs written), ' +
        'send (StartRuns written to the sessions here), forward (the other runs\' starts queued for their replicas, from store), ' +
        'answer (the view POST answers with); on a replica given such starts, from their enqueue (the sender\'s clock): relay_wait (until taken here), relay (until its StartRuns were written).',
      labelNames: ['step'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.forwardedStarts = new Counter({
      name: `${METRIC_PREFIX}forwarded_start_commands_total`,
      help:
        "Other replicas' start-runs commands this replica was given, by how each came (fast: the Redis pub/sub message; queue: " +
        'its queued copy, the backstop) and what it did: started (the runs it names were started or failed here) or skipped (a queued copy whose fast one did the work).',
      labelNames: ['via', 'outcome'],
      registers,
    });
    this.remoteCommandHolds = new Counter({
      name: `${METRIC_PREFIX}remote_command_holds_total`,
      help:
        "Other replicas' commands this replica gave way to (FleetCommands: storage narrowed, sessions held), by how each hold ended: " +
        'ended (their end was heard) or bound (REMOTE_HOLD_MAX_MS passed first); refused: a message on the channel that was not taken.',
      labelNames: ['outcome'],
      registers,
    });
    this.collectErrors = new Counter({
      name: `${METRIC_PREFIX}collect_errors_total`,
      help: 'Scrape-time collectors that failed or timed out (their gauge was left empty for that scrape).',
      labelNames: ['collector'],
      registers,
    });
  }

  /** A gauge computed by `source` at each scrape. */
  gauge(name: string, help: string, labelNames: string[], source: GaugeSource): void {
    const full = `${METRIC_PREFIX}${name}`;
    const g = new Gauge({ name: full, help, labelNames, registers: [this.registry] });
    this.refreshers.push(async () => {
      let samples: GaugeSample[];
      try {
        samples = await withTimeout(Promise.resolve().then(source), COLLECT_TIMEOUT_MS, full);
      } catch (err) {
        g.reset();
        this.collectFailed(name, err);
        return;
      }
      g.reset();
      for (const s of samples) {
        if (s.labels) g.set(s.labels, s.value);
        else g.set(s.value);
      }
    });
  }

  /** Batches stored by one write: how many, the samples or events they kept, and how long it took. */
  recordStored(batches: number, samples: bigint | number, seconds: number): void {
    this.batchesStored.inc(batches);
    this.samplesStored.inc(Number(samples));
    this.batchStoreSeconds.observe(seconds);
  }

  /**
   * Every source first, together, then the text: a gauge's collect() would run concurrently with the
   * rendering of collect_errors_total, which would then lag a scrape behind the failures it counts.
   */
  async render(): Promise<string> {
    await Promise.all(this.refreshers.map((refresh) => refresh()));
    return this.registry.metrics();
  }

  private collectFailed(collector: string, err: unknown): void {
    this.collectErrors.inc({ collector });
    if (this.failedOnce.has(collector)) return;
    this.failedOnce.add(collector);
    this.log.warn(`metrics collector ${collector} failed (logged once; counted in ${METRIC_PREFIX}collect_errors_total): ${err instanceof Error ? err.message : String(err)}`);
  }
}
