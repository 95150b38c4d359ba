import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { buildC, parseFolded, sleep, startStack, waitFor, type Stack } from './harness';

const HZ = 99;

/** Sum of a folded profile's counts, and its counts by path. */
function folded(text: string): { total: number; byPath: Map<string, number> } {
  const byPath = new Map<string, number>();
  let total = 0;
  for (const s of parseFolded(text)) {
    total += s.count;
    byPath.set(s.frames.join(';'), (byPath.get(s.frames.join(';')) ?? 0) + s.count);
  }
  return { total, byPath };
}

describe('incidents and schedules, end to end on the real kernel (three agents, two controller replicas)', () => {
  let stack: Stack;
  let hotBin: string;
  let hot: ChildProcess;
  let names: string[];
  const schedules: string[] = [];

  before(async () => {
    hotBin = buildC('hot');
    // Two controller replicas: the first agent on replica A (where the test posts), the other two
    // on replica B, so incidents and scheduled ticks reach agents through the other replica's queue.
    stack = await startStack({ replicas: 2 });
    names = [stack.nodeName, `${stack.nodeName}-b`, `${stack.nodeName}-c`];
    await stack.startAgent(names[1], 'role=e2e,incident=yes', [stack.replicas[1].grpcAddr]);
    await stack.startAgent(names[2], 'role=e2e,incident=yes', [stack.replicas[1].grpcAddr]);
    // The e2e database outlives runs: a schedule left by a killed run would tick here too.
    for (const s of (await stack.api('GET', '/schedules')).json ?? []) await stack.api('DELETE', `/schedules/${s.id}`, undefined, stack.captureToken);
    hot = spawn(hotBin, ['0'], { stdio: 'ignore' });
    await sleep(300);
  });

  after(async () => {
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`).catch(() => undefined);
    if (hot && hot.exitCode === null) hot.kill('SIGKILL');
    await stack?.stop();
  });

  it('starts a cpu-profile + memleak bundle on three nodes within one window; merged flame graph = sum of the nodes', async () => {
    const created = await stack.api('POST', '/incidents', {
      name: 'e2e incident',
      nodes: { names },
      bundle: [
        { type: 'cpu-profile', durationSec: 4, frequencyHz: HZ, target: { pid: hot.pid } },
        { type: 'memleak', durationSec: 4, intervalSec: 2, target: { pid: hot.pid } },
      ],
    });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    assert.equal(created.json.jobs.length, 2);
    let inc: any;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${id}`)).json;
      return inc.status !== 'running';
    }, 60_000, `incident ${id} to end`);
    assert.equal(inc.status, 'completed', JSON.stringify(inc, null, 1));
    assert.deepEqual(inc.jobs.map((j: any) => j.type), ['cpu-profile', 'memleak']);
    for (const j of inc.jobs) {
      assert.deepEqual(j.runs.map((r: any) => r.node), [...names].sort(), j.type);
      for (const r of j.runs) {
        assert.equal(r.status, 'completed', `${j.type} on ${r.node}: ${r.reason}`);
        // One host, one clock: no run attached before the common start time.
        assert.ok(r.startDelayMs >= 0, `${j.type} on ${r.node} started ${r.startDelayMs} ms before startAt`);
      }
    }
    assert.deepEqual(Object.keys(inc.byNode), [...names].sort());
    for (const n of names) assert.deepEqual(Object.values(inc.byNode[n]), ['completed', 'completed']);
    assert.equal(inc.skew.started, 6);
    assert.equal(typeof inc.startSkewMs, 'number');
    // Each agent loads while it waits for startAt and attaches at it: ~0.2 s here. When agents loaded after
    // startAt, the skew was the difference in loading times (memleak's ~1.1 s longer than cpu-profile's: 1.3-2.1 s).
    assert.ok(inc.startSkewMs >= 0 && inc.startSkewMs < 1000, `start skew ${inc.startSkewMs} ms`);
    const delays = inc.jobs.map((j: any) => `${j.type} ${j.startSkewMs} ms (${j.runs.map((r: any) => `${r.node.slice(-1)} +${r.startDelayMs}`).join(', ')})`);
    console.log(`incident ${id}: start skew ${inc.startSkewMs} ms over ${inc.skew.started} runs; per job: ${delays.join('; ')}`);
    assert.ok(inc.jobs[0].links.pprof && inc.jobs[1].links.memleak);

    const merged = await stack.api('GET', `/incidents/${id}/flamegraph.folded`);
    assert.equal(merged.status, 200, merged.text);
    const m = folded(merged.text);
    const perNode = await Promise.all(names.map(async (n) => folded((await stack.api('GET', `/incidents/${id}/flamegraph.folded?node=${n}`)).text)));
    for (const p of perNode) assert.ok(p.total > HZ, `a node has only ${p.total} samples`);
    assert.equal(m.total, perNode.reduce((a, p) => a + p.total, 0), 'merged total = sum of per-node totals');
    for (const [path, c] of m.byPath) assert.equal(c, perNode.reduce((a, p) => a + (p.byPath.get(path) ?? 0), 0), path);
    // ...and the same counts the jobs' own run counters report.
    assert.equal(m.total, inc.jobs[0].runs.reduce((a: number, r: any) => a + r.samplesStored, 0));

    const fns = (await stack.api('GET', `/incidents/${id}/functions?limit=5`)).json;
    assert.equal(fns.totalSamples, m.total);
    assert.equal(Object.values(fns.nodeTotals as Record<string, number>).reduce((a, b) => a + b, 0), m.total);
    assert.equal(fns.bySelf[0].name, 'hot_spin', JSON.stringify(fns.bySelf));
    assert.equal(Object.values(fns.bySelf[0].byNode as Record<string, { self: number }>).reduce((a, b) => a + b.self, 0), fns.bySelf[0].self);

    const svg = await stack.api('GET', `/incidents/${id}/flamegraph.svg`);
    assert.equal(svg.status, 200);
    const spin = svg.text.match(/<title>hot_spin \([^<]*· by node: ([^<]*)<\/title>/);
    assert.ok(spin, 'hot_spin tooltip with per-node counts');
    for (const n of names) assert.match(spin[1], new RegExp(`${n} \\d`));
    assert.equal((await stack.api('GET', `/incidents/${id}/flamegraph.svg?node=nope`)).status, 404);
  });

  it('refuses a malformed cron naming cron (400), a selector matching nothing (422), a bad template field (400), ssl-capture without the scope (403)', async () => {
    const job = { type: 'cpu-profile', durationSec: 2, target: { pid: hot.pid } };
    for (const cron of ['61 * * * *', '* * *', 'every minute', '* * * * * *']) {
      const r = await stack.api('POST', '/schedules', { cron, nodes: 'all', job });
      assert.equal(r.status, 400, `${cron}: ${r.text}`);
      assert.match(r.json.message.join(' '), /^cron /, cron);
    }
    const both = await stack.api('POST', '/schedules', { cron: '*/5 * * * *', everyMs: 6000, nodes: 'all', job });
    assert.equal(both.status, 400);
    assert.match(both.text, /cron or everyMs/);
    const short = await stack.api('POST', '/schedules', { everyMs: 1000, nodes: 'all', job });
    assert.equal(short.status, 400);
    assert.match(short.text, /everyMs must not be less than 5000/);

    const none = await stack.api('POST', '/incidents', { nodes: { names: ['no-such-node'] }, bundle: [job] });
    assert.equal(none.status, 422, none.text);
    assert.match(none.json.message.join(' '), /^bundle\[0\] \(cpu-profile\): nodes: /);
    const noneSched = await stack.api('POST', '/schedules', { everyMs: 6000, nodes: { labels: { zone: 'nowhere' } }, job });
    assert.equal(noneSched.status, 422, noneSched.text);

    const badField = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [job, { ...job, durationSec: 0 }] });
    assert.equal(badField.status, 400);
    assert.deepEqual(badField.json.message, ['bundle[1].durationSec must not be less than 1']);
    const ssl = { type: 'ssl-capture', durationSec: 2, target: { comm: 'curl' } };
    assert.equal((await stack.api('POST', '/incidents', { nodes: 'all', bundle: [job, ssl] })).status, 403);
    assert.equal((await stack.api('POST', '/schedules', { everyMs: 6000, nodes: 'all', bundle: [ssl] })).status, 403);
    assert.equal((await stack.api('GET', '/incidents', undefined, null)).status, 401);
  });

  it('a schedule every 6 s makes reports with top functions and a differential flame graph against the previous one', async () => {
    const created = await stack.api('POST', '/schedules', {
      name: 'e2e every 6 s',
      everyMs: 6000,
      nodes: { names },
      job: { type: 'cpu-profile', durationSec: 2, frequencyHz: HZ, target: { pid: hot.pid } },
      keepReports: 10,
    });
    assert.equal(created.status, 201, created.text);
    const sid = created.json.id as string;
    schedules.push(sid);
    assert.equal(created.json.nextRuns.length, 3);

    let ready: any[] = [];
    await waitFor(async () => {
      const page = (await stack.api('GET', `/schedules/${sid}/reports`)).json;
      const failed = page.reports.find((r: any) => r.status === 'failed');
      if (failed) throw new Error(`report #${failed.seq} failed: ${failed.reason}`);
      ready = page.reports.filter((r: any) => r.status === 'ready');
      return ready.length >= 2;
    }, 60_000, `two ready reports of schedule ${sid}`);
    assert.ok(ready[0].seq > ready[1].seq, 'newest first');

    const newest = (await stack.api('GET', `/schedules/${sid}/reports/${ready[0].id}`)).json;
    assert.equal(newest.topFunctions.bySelf[0].name, 'hot_spin', JSON.stringify(newest.topFunctions.bySelf.slice(0, 3)));
    assert.ok(newest.topFunctions.byTotal.some((f: any) => f.name === 'hot_spin'));
    assert.deepEqual(Object.keys(newest.nodeTotals).sort(), [...names].sort());
    assert.equal(Object.values(newest.nodeTotals as Record<string, number>).reduce((a, b) => a + b, 0), newest.totalSamples);
    assert.equal(newest.baseReportId, ready[1].id);
    assert.equal(newest.diff.baseReportId, ready[1].id);
    assert.ok(Array.isArray(newest.diff.grew) && Array.isArray(newest.diff.shrank));
    assert.ok(newest.links.diffSvg && newest.links.flamegraphSvg && newest.links.incident);

    const svg = await stack.api('GET', newest.links.flamegraphSvg.replace('/api/v1', ''));
    assert.equal(svg.status, 200);
    assert.match(svg.text, /hot_spin/);
    const diff = await stack.api('GET', newest.links.diffSvg.replace('/api/v1', ''));
    assert.equal(diff.status, 200, diff.text);
    assert.match(diff.text, /red: share grew, blue: share shrank/);
    assert.match(diff.text, /<title>hot_spin \([^<]*· base \d+ \([\d.]+%\) → target \d+ \([\d.]+%\) · Δ [^<]*<\/title><rect [^>]*fill="rgb\((255,\d+,\d+|\d+,\d+,255|221,221,221)\)"/);
    // The first report has nothing to compare with.
    const oldest = (await stack.api('GET', `/schedules/${sid}/reports?limit=100`)).json.reports.at(-1);
    if (oldest.seq === 1 && oldest.status === 'ready') {
      assert.equal((await stack.api('GET', `/schedules/${sid}/reports/${oldest.id}/diff.svg`)).status, 422);
    }

    const page1 = (await stack.api('GET', `/schedules/${sid}/reports?limit=1`)).json;
    assert.equal(page1.reports.length, 1);
    const page2 = (await stack.api('GET', `/schedules/${sid}/reports?limit=1&before=${page1.nextCursor}`)).json;
    assert.ok(page2.reports[0].seq < page1.reports[0].seq);

    const sched = (await stack.api('GET', `/schedules/${sid}`)).json;
    assert.ok(sched.ticks >= 2);
    assert.ok((await stack.api('GET', '/schedules')).json.some((s: any) => s.id === sid));
    const del = await stack.api('DELETE', `/schedules/${sid}`);
    assert.equal(del.status, 200, del.text);
    assert.ok(del.json.reports >= 2);
    assert.equal((await stack.api('GET', `/schedules/${sid}`)).status, 404);
    assert.equal((await stack.api('GET', `/incidents/${newest.incidentId}`)).status, 404);
  });
});
