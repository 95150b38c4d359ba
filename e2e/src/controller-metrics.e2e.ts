import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { buildC, sleep, startStack, waitJob, type Stack } from './harness';
import { dispatchStepCount } from './dispatch-steps';

const METRICS_TOKEN = randomBytes(24).toString('hex');

/** The controller's root (GET /metrics is outside /api/v1). */
const rootOf = (stack: Stack): string => stack.base.replace(/\/api\/v1$/, '');

async function scrape(stack: Stack, token: string | undefined = METRICS_TOKEN): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${rootOf(stack)}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

/** One series' value: the family's sample whose labels include `labels`. */
function value(m: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = m.get(name);
  assert.ok(family, `no ${name} in the scrape`);
  const sample = family.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  assert.ok(sample, `no ${name}${JSON.stringify(labels)} in the scrape`);
  return Number(sample.value ?? sample.count);
}

describe('controller metrics and health, with a metrics token', () => {
  let stack: Stack;
  let hotBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    hotBin = buildC('hot');
    stack = await startStack({ env: { TRACEFLEET_METRICS_TOKEN: METRICS_TOKEN } });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  it('live and ready answer 200 without a token; ready has checked PostgreSQL and Redis', async () => {
    const live = await stack.api('GET', '/health/live', undefined, null);
    assert.equal(live.status, 200, live.text);
    assert.equal(live.json.status, 'ok');
    const ready = await stack.api('GET', '/health/ready', undefined, null);
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(ready.json.checks, { postgres: 'ok', redis: 'ok' });
  });

  it('moves the counters and gauges when a cpu-profile job runs', async () => {
    const before = await scrape(stack);
    const stepsBefore = await Promise.all(['plan', 'store', 'send', 'flush', 'answer'].map((step) => dispatchStepCount(stack.base, METRICS_TOKEN, step)));
    // Every family the README names, parsed by a Prometheus text parser.
    for (const name of [
      'tracefleet_controller_jobs',
      'tracefleet_controller_runs',
      'tracefleet_controller_batches_stored_total',
      'tracefleet_controller_samples_stored_total',
      'tracefleet_controller_batch_store_duration_seconds',
      'tracefleet_controller_store_retries_total',
      'tracefleet_controller_store_failures_total',
      'tracefleet_controller_store_gate_queued',
      'tracefleet_controller_queue_jobs',
      'tracefleet_controller_agents_connected',
      'tracefleet_controller_registrations_waiting',
      'tracefleet_controller_ingest_inflight',
      'tracefleet_controller_sse_streams_open',
      'tracefleet_controller_db_pool_connections',
      'tracefleet_controller_table_partitions',
      'tracefleet_controller_partition_default_rows',
      'tracefleet_controller_collect_errors_total',
      'tracefleet_controller_process_cpu_seconds_total',
    ]) {
      assert.ok(before.has(name), `${name} is missing from the scrape`);
    }
    assert.ok(value(before, 'tracefleet_controller_agents_connected') >= 1, 'the stack\'s agent is connected to this replica');
    assert.equal(value(before, 'tracefleet_controller_registrations_waiting'), 0, 'its registration was recorded');
    assert.ok(value(before, 'tracefleet_controller_db_pool_connections', { state: 'total' }) >= 1, 'the pg pool is reachable');
    assert.equal(before.get('tracefleet_controller_queue_jobs')!.metrics.length, 8, 'two queues × four states');
    // The ingest budget's caps are the configured ones (TRACEFLEET_INGEST_INFLIGHT, _MB defaults).
    assert.equal(value(before, 'tracefleet_controller_ingest_inflight', { what: 'max_messages' }), 256);
    assert.equal(value(before, 'tracefleet_controller_ingest_inflight', { what: 'max_bytes' }), 32 * 1024 * 1024);
    // The controller made today's sample partition and the days ahead at boot (retention/partitions.ts).
    assert.ok(value(before, 'tracefleet_controller_table_partitions', { table: 'ProfileSample' }) >= 8, 'today and 7 days ahead');
    assert.equal(value(before, 'tracefleet_controller_partition_default_rows', { table: 'ProfileSample' }), 0);
    const completedBefore = value(before, 'tracefleet_controller_jobs', { type: 'cpu-profile', status: 'completed' });

    const hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    children.push(hot);
    await sleep(300);
    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 2, frequencyHz: 99, target: { pid: hot.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id);
    hot.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));

    const afterJob = await scrape(stack);
    const batches = value(afterJob, 'tracefleet_controller_batches_stored_total') - value(before, 'tracefleet_controller_batches_stored_total');
    const samples = value(afterJob, 'tracefleet_controller_samples_stored_total') - value(before, 'tracefleet_controller_samples_stored_total');
    assert.ok(batches >= 1, `batches stored moved by ${batches}`);
    assert.ok(samples >= Math.max(1, job.runs[0].samplesStored), `samples stored moved by ${samples}; the run stored ${job.runs[0].samplesStored}`);
    assert.ok(value(afterJob, 'tracefleet_controller_batch_store_duration_seconds') > value(before, 'tracefleet_controller_batch_store_duration_seconds'), 'the store latency histogram counted the writes');
    assert.equal(value(afterJob, 'tracefleet_controller_jobs', { type: 'cpu-profile', status: 'completed' }), completedBefore + 1);
    // The POST's steps on this replica: each observed once for the one job.
    const stepsAfter = await Promise.all(['plan', 'store', 'send', 'flush', 'answer'].map((step) => dispatchStepCount(stack.base, METRICS_TOKEN, step)));
    assert.deepEqual(stepsAfter.map((n, i) => n - stepsBefore[i]), [1, 1, 1, 1, 1], 'plan, store, send, flush, answer');
    // Creating the job was a command: every session (the stack's agent's) was held while it ran (or, right after
    // another command's hold, reading went on: HoldDuty), then read again.
    const holds = (m: typeof before) => ['command_holds', 'command_holds_skipped'].reduce((a, what) => a + value(m, 'tracefleet_controller_ingest_inflight', { what }), 0);
    assert.ok(holds(afterJob) > holds(before), 'the POST counted as a command');
    assert.equal(value(afterJob, 'tracefleet_controller_ingest_inflight', { what: 'sessions_held' }), 0, 'no session is left held after the command');
    assert.ok(value(afterJob, 'tracefleet_controller_runs', { status: 'completed' }) >= 1);
    // Every series of the jobs gauge is a known job type and status: its labels stay few.
    for (const s of afterJob.get('tracefleet_controller_jobs')!.metrics) {
      assert.match(s.labels!.type, /^(cpu-profile|usdt|memleak|ssl-capture|syscount|runqlat|biolatency|tcp|off-cpu|oomkill|exec-open|other)$/);
      assert.match(s.labels!.status, /^(queued|running|completed|partial|failed|stopped|other)$/);
    }
    assert.equal(afterJob.get('tracefleet_controller_collect_errors_total')!.metrics.length, 0, 'no collector failed');
  });

  it('wants the metrics token: none, a wrong one or an API token is 401', async () => {
    for (const authorization of [undefined, `Bearer ${METRICS_TOKEN}x`, `Bearer ${stack.apiToken}`, `Bearer ${stack.captureToken}`, `Basic ${METRICS_TOKEN}`]) {
      const res = await fetch(`${rootOf(stack)}/metrics`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.doesNotMatch(await res.text(), /tracefleet_controller_/);
    }
  });

  it('answers hostile Authorization headers with a 4xx, never a 5xx, and keeps serving', async () => {
    for (const authorization of [`Bearer ${'A'.repeat(12_000)}`, `Bearer ${'x'.repeat(70_000)}`, 'Bearer \u00ff\u00fe\u00fd', 'Bearer a b c', 'bearer', '    ', `Bearer ${METRICS_TOKEN},Bearer ${METRICS_TOKEN}`]) {
      let status: number;
      try {
        status = (await fetch(`${rootOf(stack)}/metrics`, { headers: { authorization } })).status;
      } catch (err) {
        // The server may close the connection on a header past its limit: a refusal, not a failure.
        status = 431;
        assert.ok(authorization.length > 16_000, `${authorization.slice(0, 20)}: ${(err as Error).message}`);
      }
      assert.ok(status >= 400 && status < 500, `${authorization.slice(0, 20)}… (${authorization.length} chars) → ${status}`);
    }
    await scrape(stack);
  });
});

describe('controller metrics without a metrics token, on loopback', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ agent: false });
  });

  after(async () => {
    await stack?.stop();
  });

  it('answers a scrape without a token (the controller listens on 127.0.0.1 only); health stays public', async () => {
    const m = await scrape(stack, undefined);
    assert.equal(value(m, 'tracefleet_controller_agents_connected'), 0);
    assert.equal(value(m, 'tracefleet_controller_sse_streams_open'), 0);
    assert.equal((await stack.api('GET', '/health/ready', undefined, null)).status, 200);
    assert.equal((await stack.api('GET', '/health/live', undefined, null)).status, 200);
  });
});
