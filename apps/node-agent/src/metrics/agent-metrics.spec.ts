import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Gauge } from 'prom-client';
import { AgentMetrics, timedSymbolizer, type MeteredRun } from './agent-metrics';
import type { RunProgress } from '../runs/tracing-run';

/** A run whose counts the test sets. */
class FakeRun implements MeteredRun {
  p: RunProgress = { counts: { taken: 0n, droppedKernel: 0n, droppedAgent: 0n, sent: 0n } };
  fail = false;
  progress(): RunProgress {
    if (this.fail) throw new Error('tracer closed');
    return this.p;
  }
}

/** The value of one series in Prometheus text, or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const unwind = (stacks: bigint, cutNoRow: bigint) => ({
  stacks, stacksComplete: stacks - cutNoRow, framesTable: 0n, framesFp: 0n, cutNoMapping: 0n, cutNoRow,
  cutExpression: 0n, cutDepth: 0n, cutReadFault: 0n, unwindPending: 0n, cutInvalid: 0n,
});

describe('AgentMetrics', () => {
  it('adds what runs count to monotonic totals by job type, and runs active goes back to 0', async () => {
    let up = false;
    const m = new AgentMetrics({ jobTypes: ['cpu-profile', 'usdt'], linkUp: () => up, defaultMetrics: false });
    let text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_samples_taken_total{job_type="cpu-profile"}'), 0);
    assert.equal(value(text, 'tracefleet_agent_runs_active{job_type="usdt"}'), 0);
    assert.equal(value(text, 'tracefleet_agent_link_up'), 0);

    const a = new FakeRun();
    const b = new FakeRun();
    m.runStarted(a, 'cpu-profile', 1000);
    m.runStarted(b, 'cpu-profile', 500);
    a.p = { counts: { taken: 100n, droppedKernel: 2n, droppedAgent: 1n, sent: 97n }, unwind: unwind(100n, 3n) };
    b.p = { counts: { taken: 50n, droppedKernel: 0n, droppedAgent: 0n, sent: 50n } };
    up = true;
    text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_runs_active{job_type="cpu-profile"}'), 2);
    assert.equal(value(text, 'tracefleet_agent_bpf_map_estimated_bytes{job_type="cpu-profile"}'), 1500);
    assert.equal(value(text, 'tracefleet_agent_samples_taken_total{job_type="cpu-profile"}'), 150);
    assert.equal(value(text, 'tracefleet_agent_samples_dropped_kernel_total{job_type="cpu-profile"}'), 2);
    assert.equal(value(text, 'tracefleet_agent_unwind_stacks_cut_total{job_type="cpu-profile",reason="no_row"}'), 3);
    assert.equal(value(text, 'tracefleet_agent_link_up'), 1);

    // a's final counts: only the increase is added; b ends with counts that went back (not taken back).
    a.p = { counts: { taken: 120n, droppedKernel: 2n, droppedAgent: 1n, sent: 117n }, unwind: unwind(120n, 4n) };
    m.runEnded(a);
    b.p = { counts: { taken: 40n, droppedKernel: 0n, droppedAgent: 0n, sent: 40n } };
    m.runEnded(b);
    m.runEnded(b);
    text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_samples_taken_total{job_type="cpu-profile"}'), 170);
    assert.equal(value(text, 'tracefleet_agent_samples_sent_total{job_type="cpu-profile"}'), 167);
    assert.equal(value(text, 'tracefleet_agent_unwind_stacks_cut_total{job_type="cpu-profile",reason="no_row"}'), 4);
    assert.equal(value(text, 'tracefleet_agent_runs_active{job_type="cpu-profile"}'), 0);
    assert.equal(value(text, 'tracefleet_agent_bpf_map_estimated_bytes{job_type="cpu-profile"}'), 0);
    assert.equal(value(text, 'tracefleet_agent_runs_started_total{job_type="cpu-profile"}'), 2);
  });

  it('ring buffer fill: the fullest live run per job type, its peak, 0 once no run is live or the size is unknown', async () => {
    const m = new AgentMetrics({ jobTypes: ['cpu-profile', 'usdt'], linkUp: () => true, defaultMetrics: false });
    const a = new FakeRun();
    const b = new FakeRun();
    const c = new FakeRun();
    m.runStarted(a, 'cpu-profile', 0);
    m.runStarted(b, 'cpu-profile', 0);
    m.runStarted(c, 'usdt', 0);
    const counts = { taken: 0n, droppedKernel: 0n, droppedAgent: 0n, sent: 0n };
    a.p = { counts, ring: { sizeBytes: 1 << 20, availBytes: 1 << 18, peakBytes: 1 << 19 } };
    b.p = { counts, ring: { sizeBytes: 1 << 16, availBytes: 1 << 14, peakBytes: 3 << 14 } };
    c.p = { counts, ring: { sizeBytes: 0, availBytes: 0, peakBytes: 0 } };
    let text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_fill_ratio{job_type="cpu-profile"}'), 0.25);
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_peak_fill_ratio{job_type="cpu-profile"}'), 0.75);
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_fill_ratio{job_type="usdt"}'), 0, 'an unknown size is not a fill');
    // A hostile or broken tracer answer never reads above 1.
    a.p = { counts, ring: { sizeBytes: 4096, availBytes: 1e9, peakBytes: 1e9 } };
    text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_fill_ratio{job_type="cpu-profile"}'), 1);
    m.runEnded(a);
    m.runEnded(b);
    m.runEnded(c);
    text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_fill_ratio{job_type="cpu-profile"}'), 0);
    assert.equal(value(text, 'tracefleet_agent_ring_buffer_peak_fill_ratio{job_type="cpu-profile"}'), 0);
  });

  it('a failing collector or run does not fail the scrape: it is counted and the rest is there', async () => {
    const m = new AgentMetrics({ jobTypes: ['cpu-profile'], linkUp: () => true });
    new Gauge({
      name: 'tracefleet_agent_test_broken',
      help: 'throws',
      registers: [m.registry],
      collect() {
        throw new Error('boom');
      },
    });
    const run = new FakeRun();
    run.fail = true;
    m.runStarted(run, 'cpu-profile', 10);
    const text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_metrics_collect_errors_total{collector="tracefleet_agent_test_broken"}'), 1);
    assert.equal(value(text, 'tracefleet_agent_metrics_collect_errors_total{collector="run_progress"}'), 1);
    assert.equal(value(text, 'tracefleet_agent_runs_active{job_type="cpu-profile"}'), 1);
    assert.ok((value(text, 'process_resident_memory_bytes') ?? 0) > 0, 'RSS');
    assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
    assert.match(text, /^nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('times the symbolizer\'s calls and leaves the rest of it alone', async () => {
    const m = new AgentMetrics({ jobTypes: [], linkUp: () => true, defaultMetrics: false });
    class Sym {
      #calls = 0;
      symbolizeKernel(addrs: BigUint64Array): string[] {
        this.#calls++;
        return [...addrs].map((a) => `k${a}`);
      }
      calls(): number {
        return this.#calls;
      }
    }
    const s = timedSymbolizer(new Sym(), m.symbolizeSeconds);
    assert.deepEqual(s.symbolizeKernel(new BigUint64Array([1n, 2n])), ['k1', 'k2']);
    s.symbolizeKernel(new BigUint64Array([3n]));
    assert.equal(s.calls(), 2, 'private fields still reached');
    const text = await m.scrape();
    assert.equal(value(text, 'tracefleet_agent_symbolize_duration_seconds_count'), 2);
  });
});
