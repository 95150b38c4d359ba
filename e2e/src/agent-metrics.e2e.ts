import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rawHttp } from '@tracefleet/node-agent/dist/testing/raw-http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { buildC, freePort, sleep, startStack, waitFor, waitJob, type Stack } from './harness';

const OPEN_NODE = 'e2e-ametrics-open';
const TOKEN_NODE = 'e2e-ametrics-token';
const TOKEN = 'agent-metrics-e2e-token-0123456789';

type Families = ReturnType<typeof parsePrometheusTextFormat>;

/** The value of a family's sample whose labels include `labels`; undefined when absent. */
function sample(f: Families, name: string, labels: Record<string, string> = {}): number | undefined {
  const fam = f.find((x) => x.name === name);
  const s = fam?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (!s) return undefined;
  return Number(s.value ?? s.count);
}

const raw = (port: number, request: string): Promise<string> => rawHttp(port, request, 3000);

describe('agent metrics port, end to end', () => {
  let stack: Stack;
  let hotBin: string;
  let openPort = 0;
  let tokenPort = 0;
  const children: ChildProcess[] = [];

  const scrape = async (port: number, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; families: Families; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), families: res.status === 200 ? parsePrometheusTextFormat(text) : [], text };
  };

  before(async () => {
    hotBin = buildC('hot');
    stack = await startStack({ agent: false });
    openPort = await freePort();
    tokenPort = await freePort();
    await stack.startAgent(OPEN_NODE, 'role=e2e', undefined, { TRACEFLEET_AGENT_METRICS_ADDR: `127.0.0.1:${openPort}` });
    await stack.startAgent(TOKEN_NODE, 'role=e2e', undefined, { TRACEFLEET_AGENT_METRICS_ADDR: `127.0.0.1:${tokenPort}`, TRACEFLEET_AGENT_METRICS_TOKEN: TOKEN });
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  it('serves parseable metrics and readiness while connected; a cpu-profile job moves the counters', async () => {
    const first = await scrape(openPort);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(sample(first.families, 'tracefleet_agent_link_up'), 1);
    assert.ok((sample(first.families, 'process_resident_memory_bytes') ?? 0) > 10 * 2 ** 20, 'RSS');
    assert.ok(sample(first.families, 'nodejs_eventloop_lag_seconds') !== undefined, 'event-loop lag');
    const cpu = { job_type: 'cpu-profile' };
    const taken0 = sample(first.families, 'tracefleet_agent_samples_taken_total', cpu);
    const sent0 = sample(first.families, 'tracefleet_agent_samples_sent_total', cpu);
    assert.equal(taken0, 0);
    assert.equal(sample(first.families, 'tracefleet_agent_runs_active', cpu), 0);
    const ready = await fetch(`http://127.0.0.1:${openPort}/health/ready`);
    assert.equal(ready.status, 200, await ready.text());
    assert.equal((await fetch(`http://127.0.0.1:${openPort}/health/live`)).status, 200);

    const hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    children.push(hot);
    await sleep(300);
    const created = await stack.api('POST', '/jobs', {
      type: 'cpu-profile',
      durationSec: 3,
      frequencyHz: 99,
      target: { pid: hot.pid },
      nodes: { names: [OPEN_NODE] },
    });
    assert.equal(created.status, 201, created.text);
    let during: Families = [];
    await waitFor(async () => {
      during = (await scrape(openPort)).families;
      return sample(during, 'tracefleet_agent_runs_active', cpu) === 1;
    }, 10_000, 'runs active 1 during the job');
    assert.ok((sample(during, 'tracefleet_agent_bpf_map_estimated_bytes', cpu) ?? 0) > 0, 'the running run\'s estimated map bytes');
    // The ring buffer's fill: something waited in it at some poll while the run went on, never more than all of it.
    await waitFor(async () => {
      during = (await scrape(openPort)).families;
      return (sample(during, 'tracefleet_agent_ring_buffer_peak_fill_ratio', cpu) ?? 0) > 0;
    }, 2500, 'a ring buffer peak fill above 0 during the job');
    const peak = sample(during, 'tracefleet_agent_ring_buffer_peak_fill_ratio', cpu)!;
    const fill = sample(during, 'tracefleet_agent_ring_buffer_fill_ratio', cpu)!;
    console.log(`# ring buffer during the job: fill ${fill}, peak ${peak}`);
    assert.ok(peak <= 1 && fill >= 0 && fill <= 1, `fill ${fill}, peak ${peak}`);
    const job = await waitJob(stack, created.json.id);
    hot.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const run = job.runs[0];
    assert.ok(run.samplesStored > 150, `stored ${run.samplesStored}`);

    let after: Families = [];
    await waitFor(async () => {
      after = (await scrape(openPort)).families;
      return sample(after, 'tracefleet_agent_runs_active', cpu) === 0;
    }, 10_000, 'runs active back to 0');
    const taken = sample(after, 'tracefleet_agent_samples_taken_total', cpu)! - taken0!;
    const sent = sample(after, 'tracefleet_agent_samples_sent_total', cpu)! - sent0!;
    assert.equal(taken, run.samplesTaken, 'the counter moved by what the run reported taken');
    assert.equal(sent, run.samplesStored, 'and by what the controller stored');
    assert.ok(taken >= run.samplesStored && taken <= run.samplesStored * 1.1 + 10, `taken ${taken}, stored ${run.samplesStored}`);
    assert.equal(sample(after, 'tracefleet_agent_runs_started_total', cpu), 1);
    assert.equal(sample(after, 'tracefleet_agent_bpf_map_estimated_bytes', cpu), 0);
    assert.equal(sample(after, 'tracefleet_agent_ring_buffer_peak_fill_ratio', cpu), 0, 'no live run, no fill');
    assert.ok((sample(after, 'tracefleet_agent_symbolize_duration_seconds') ?? 0) > 0, 'symbolize calls timed');
    assert.equal(sample(after, 'tracefleet_agent_link_up'), 1);
    assert.equal(sample(after, 'tracefleet_agent_metrics_collect_errors_total'), undefined, 'no collector failed');
  });

  it('needs the bearer token on /metrics when one is configured', async () => {
    assert.equal((await scrape(tokenPort)).status, 401);
    assert.equal((await scrape(tokenPort, { authorization: `Bearer ${TOKEN.slice(0, -1)}x` })).status, 401);
    assert.equal((await scrape(tokenPort, { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` })).status, 401);
    const ok = await scrape(tokenPort, { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.equal(sample(ok.families, 'tracefleet_agent_link_up'), 1);
    assert.equal((await fetch(`http://127.0.0.1:${tokenPort}/health/ready`)).status, 200);
  });

  it('answers hostile requests with a 4xx and stays healthy', async () => {
    for (const port of [openPort, tokenPort]) {
      assert.match(await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
      assert.match(await raw(port, 'POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nxxxx'), /^HTTP\/1\.1 405 /);
      assert.match(await raw(port, 'GET /metrics/../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 404 /);
      assert.match(await raw(port, 'GET /%2e%2e/%2e%2e/etc/shadow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 404 /);
      assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);
    }
    assert.equal(stack.agents.get(OPEN_NODE)!.exitCode, null);
    assert.equal(stack.agents.get(TOKEN_NODE)!.exitCode, null);
  });

  it('an agent asked for an unauthenticated metrics port off loopback does not start, and says why', async () => {
    await assert.rejects(
      stack.startAgent('e2e-ametrics-wide', 'role=e2e', undefined, { TRACEFLEET_AGENT_METRICS_ADDR: `0.0.0.0:${await freePort()}` }),
      /agent exited \(2\)[\s\S]*TRACEFLEET_AGENT_METRICS_ADDR: "0\.0\.0\.0:\d+" is not a loopback address and TRACEFLEET_AGENT_METRICS_TOKEN is not set/,
    );
  });
});
