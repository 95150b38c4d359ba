import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COLLECT_TIMEOUT_MS, ControllerMetrics, METRICS_CONTENT_TYPE } from './controller-metrics';

/** `name{labels} value` lines of a rendering, by series. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('ControllerMetrics', () => {
  it('renders its own registry: default process metrics, counters and the store histogram', async () => {
    const m = new ControllerMetrics();
    m.recordStored(3, 120n, 0.02);
    m.storeRetries.inc();
    m.storeFailures.inc({ outcome: 'left_to_agent' });
    const text = await m.render();
    const s = series(text);
    assert.equal(s.get('tracefleet_controller_batches_stored_total'), 3);
    assert.equal(s.get('tracefleet_controller_samples_stored_total'), 120);
    assert.equal(s.get('tracefleet_controller_store_retries_total'), 1);
    assert.equal(s.get('tracefleet_controller_store_failures_total{outcome="left_to_agent"}'), 1);
    assert.equal(s.get('tracefleet_controller_batch_store_duration_seconds_count'), 1);
    assert.equal(s.get('tracefleet_controller_batch_store_duration_seconds_bucket{le="0.025"}'), 1);
    assert.equal(s.get('tracefleet_controller_batch_store_duration_seconds_bucket{le="0.01"}'), 0);
    assert.ok(s.has('tracefleet_controller_process_cpu_seconds_total'), 'default process metrics, prefixed');
    assert.match(text, /# TYPE tracefleet_controller_batches_stored_total counter/);
    assert.match(METRICS_CONTENT_TYPE, /^text\/plain; version=0\.0\.4/);
  });

  it('keeps registries apart: two instances never share a series', async () => {
    const a = new ControllerMetrics();
    const b = new ControllerMetrics();
    a.batchesStored.inc(5);
    assert.equal(series(await b.render()).get('tracefleet_controller_batches_stored_total'), 0);
  });

  it('computes gauges at scrape time from their sources', async () => {
    const m = new ControllerMetrics();
    let open = 1;
    m.gauge('sse_streams_open', 'open streams', [], () => [{ value: open }]);
    m.gauge('runs', 'runs', ['status'], async () => [
      { labels: { status: 'running' }, value: 2 },
      { labels: { status: 'completed' }, value: 7 },
    ]);
    assert.equal(series(await m.render()).get('tracefleet_controller_sse_streams_open'), 1);
    open = 4;
    const s = series(await m.render());
    assert.equal(s.get('tracefleet_controller_sse_streams_open'), 4);
    assert.equal(s.get('tracefleet_controller_runs{status="completed"}'), 7);
  });

  it('answers a scrape when a collector throws or hangs, and counts each failure', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const m = new ControllerMetrics();
    m.gauge('jobs', 'jobs', ['type', 'status'], () => {
      throw new Error('database is down');
    });
    m.gauge('queue_jobs', 'queue', ['queue', 'state'], () => new Promise(() => undefined));
    m.gauge('agents_connected', 'agents', [], () => [{ value: 2 }]);
    const scrape = m.render();
    await new Promise((r) => setImmediate(r));
    t.mock.timers.tick(COLLECT_TIMEOUT_MS + 1);
    const text = await scrape;
    const s = series(text);
    assert.equal(s.get('tracefleet_controller_agents_connected'), 2, 'the healthy gauge is there');
    assert.ok(![...s.keys()].some((k) => k.startsWith('tracefleet_controller_jobs{')), 'the failed gauge is left empty');
    assert.equal(s.get('tracefleet_controller_collect_errors_total{collector="jobs"}'), 1, 'counted in the same scrape');
    assert.equal(s.get('tracefleet_controller_collect_errors_total{collector="queue_jobs"}'), 1);
    const again = series(await renderWithTick(m, t));
    assert.equal(again.get('tracefleet_controller_collect_errors_total{collector="jobs"}'), 2);
    assert.equal(again.get('tracefleet_controller_collect_errors_total{collector="queue_jobs"}'), 2);
    assert.equal(again.get('tracefleet_controller_agents_connected'), 2);
  });
});

async function renderWithTick(m: ControllerMetrics, t: { mock: { timers: { tick(ms: number): void } } }): Promise<string> {
  const scrape = m.render();
  await new Promise((r) => setImmediate(r));
  t.mock.timers.tick(COLLECT_TIMEOUT_MS + 1);
  return scrape;
}
