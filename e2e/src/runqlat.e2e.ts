import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { bpfFds, buildC, startStack, waitFor, waitJob, type Stack } from './harness';

const SECOND = 'runqlat-n2';
const SPINNERS = 6; // busy processes on this 2-CPU machine: each waits while the others run

interface Hist {
  count: string;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  slots: { lowUs: number; highUs: number | null; count: string }[];
}

/** Waits of at least `fromUs` (default 1024 µs, ~1 ms). */
const slow = (h: Hist, fromUs = 1024): number => h.slots.filter((s) => s.lowUs >= fromUs).reduce((n, s) => n + Number(s.count), 0);
/** The share of waits of at least 1 ms. */
const slowShare = (h: Hist): number => slow(h) / Math.max(1, Number(h.count));

describe('runqlat jobs, end to end on the real kernel, merged across two nodes', () => {
  let stack: Stack;
  let hotBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    hotBin = buildC('hot');
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e,tier=runqlat2');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  async function runJob(body: Record<string, unknown>): Promise<{ id: string; job: Record<string, unknown> & { runs: { node: string; status: string }[]; links: Record<string, string> }; r: { merged: Hist; nodes: { node: string; final: boolean; histogram: Hist }[]; byCgroup: { node: string; cgroupId: string; histogram: Hist }[]; notMeasured: { noStart: string; noHist: string } } }> {
    const res = await stack.api('POST', '/jobs', { type: 'runqlat', durationSec: 3, target: { all: true }, nodes: 'all', ...body });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    const job = await waitJob(stack, id, 60_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const r = (await stack.api('GET', `/jobs/${id}/runqlat`)).json;
    return { id, job, r };
  }

  it('a CPU-saturating load moves the histogram into the >= 1 ms slots, merged and per node', async () => {
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    const idle = await runJob({});

    for (let i = 0; i < SPINNERS; i++) children.push(spawn(hotBin, ['0'], { stdio: 'ignore' }));
    let loaded;
    try {
      await new Promise((r) => setTimeout(r, 300));
      loaded = await runJob({ perCgroup: true });
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }

    const fmt = (h: Hist) => `${h.count} waits, ${slow(h)} >= 1 ms (${(100 * slowShare(h)).toFixed(1)} %), ${slow(h, 8192)} >= 8 ms, p50 ${h.p50Us} us, p90 ${h.p90Us} us, p99 ${h.p99Us} us, mean ${h.meanUs} us`;
    console.log(`idle:   ${fmt(idle.r.merged)}`);
    console.log(`loaded: ${fmt(loaded.r.merged)}`);

    const nodes = [stack.nodeName, SECOND].sort();
    for (const { r, job, id } of [idle, loaded]) {
      assert.equal(job.links.runqlat, `/api/v1/jobs/${id}/runqlat`);
      assert.deepEqual(r.nodes.map((n) => n.node), nodes);
      assert.ok(r.nodes.every((n) => n.final), 'each node sent its final report');
      // Merged is the sum of the nodes, slot by slot.
      assert.equal(Number(r.merged.count), r.nodes.reduce((s, n) => s + Number(n.histogram.count), 0));
      assert.equal(slow(r.merged), r.nodes.reduce((s, n) => s + slow(n.histogram), 0));
      assert.equal(r.notMeasured.noStart, '0');
    }
    // Both agents watched the same host: each node saw the load.
    for (const n of loaded.r.nodes) assert.ok(slow(n.histogram) >= 100, `node ${n.node}: ${fmt(n.histogram)}`);
    // The machine is shared (builds may run beside the test), so "idle" is not silent: compare the mass
    // at >= 1 ms in count and in share, and at >= 8 ms, where a spinner's wait for a CFS slice lands.
    const [l, i] = [loaded.r.merged, idle.r.merged];
    assert.ok(slow(l) >= 200, `waits >= 1 ms: loaded ${slow(l)} vs idle ${slow(i)}`);
    assert.ok(slowShare(l) > slowShare(i) + 0.15, `share >= 1 ms: loaded ${slowShare(l)} vs idle ${slowShare(i)}`);
    assert.ok(slow(l, 8192) >= 100 && slow(l, 8192) > 3 * slow(i, 8192), `waits >= 8 ms: loaded ${slow(l, 8192)} vs idle ${slow(i, 8192)}`);
    assert.ok(loaded.r.merged.p99Us >= 1000, `p99 under load: ${loaded.r.merged.p99Us} us`);
    assert.equal(idle.r.byCgroup.length, 0, 'one histogram per node without perCgroup');
    assert.ok(loaded.r.byCgroup.length >= 2 && loaded.r.byCgroup.every((c) => /^[1-9][0-9]*$/.test(c.cgroupId)), JSON.stringify(loaded.r.byCgroup.map((c) => c.cgroupId)));

    const text = await stack.api('GET', `/jobs/${loaded.id}/runqlat.txt`);
    assert.equal(text.status, 200);
    assert.match(text.text, /usecs\s+: count\s+distribution/);
    assert.match(text.text, /1024 -> 2047\s+: \d+/);
    console.log(text.text.split('\n').slice(0, 24).join('\n'));
    const svg = await stack.api('GET', `/jobs/${loaded.id}/runqlat.svg`);
    assert.equal(svg.status, 200);
    assert.match(svg.text, /<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 10_000, 'the agents to close the jobs\' BPF fds');
  });

  it('runs in an incident bundle beside another type, on both nodes, and on a schedule whose label selector picks one node; a bad template is a 400 naming it', async () => {
    // Ticks every 5 s on the second node only (its label), while the incident below runs on both.
    const sched = await stack.api('POST', '/schedules', { name: 'runqlat e2e', everyMs: 5000, nodes: { labels: { tier: 'runqlat2' } }, job: { type: 'runqlat', durationSec: 1, target: { all: true } } });
    assert.equal(sched.status, 201, sched.text);
    const sid = sched.json.id as string;
    const res = await stack.api('POST', '/incidents', {
      name: 'runqlat e2e',
      nodes: 'all',
      bundle: [
        { type: 'runqlat', durationSec: 2, target: { all: true } },
        { type: 'syscount', durationSec: 2, target: { all: true } },
      ],
    });
    assert.equal(res.status, 201, res.text);
    const incidentId = res.json.id as string;
    let inc: { status: string; jobs: { id: string; type: string; status: string }[] } = res.json;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${incidentId}`)).json;
      return ['completed', 'partial', 'failed'].includes(inc.status);
    }, 60_000, 'the incident to end');
    assert.equal(inc.status, 'completed', JSON.stringify(inc));
    const job = inc.jobs.find((j) => j.type === 'runqlat')!;
    const r = (await stack.api('GET', `/jobs/${job.id}/runqlat`)).json;
    assert.deepEqual(r.nodes.map((n: { node: string }) => n.node), [stack.nodeName, SECOND].sort());
    assert.ok(Number(r.merged.count) > 0, JSON.stringify(r.merged));

    try {
      let tickJob: { id: string; status: string; runs: { node: string }[] } | undefined;
      await waitFor(async () => {
        const page = (await stack.api('GET', `/schedules/${sid}/reports`)).json;
        for (const rep of page.reports ?? []) {
          if (rep.status === 'failed') throw new Error(`report #${rep.seq} failed: ${rep.reason}`);
          if (!rep.incidentId) continue;
          const j = (await stack.api('GET', `/incidents/${rep.incidentId}`)).json.jobs?.find((x: { type: string; status: string }) => x.type === 'runqlat' && x.status === 'completed');
          if (j) tickJob = (await stack.api('GET', `/jobs/${j.id}`)).json;
        }
        return tickJob !== undefined;
      }, 30_000, `a completed runqlat job of schedule ${sid}`);
      assert.deepEqual(tickJob!.runs.map((x) => x.node), [SECOND], 'the label selector picked the second node only');
      const t = (await stack.api('GET', `/jobs/${tickJob!.id}/runqlat`)).json;
      assert.deepEqual(t.nodes.map((n: { node: string; final: boolean }) => [n.node, n.final]), [[SECOND, true]]);
      assert.ok(Number(t.merged.count) > 0, JSON.stringify(t.merged));
    } finally {
      assert.equal((await stack.api('DELETE', `/schedules/${sid}`)).status, 200);
    }

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'runqlat', durationSec: 2, target: { all: true }, maxTasks: 5 }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.maxTasks must not be less than 64/);
  });

  it('refuses hostile requests with a 400 naming the field', async () => {
    const base = { type: 'runqlat', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, durationSec: 0 }, /durationSec/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, maxTasks: 1 }, /maxTasks must not be less than 64/],
      [{ ...base, maxTasks: 2 ** 20 + 1 }, /maxTasks must not be greater than 1048576/],
      [{ ...base, perCgroup: 'yes' }, /perCgroup must be a boolean/],
      [{ ...base, target: { comm: 'hot' } }, /target.comm is not supported by runqlat/],
      [{ ...base, type: 'syscount', perCgroup: true }, /perCgroup applies only to runqlat jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/runqlat')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/runqlat.txt')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/runqlat', undefined, null)).status, 401);
  });
});
