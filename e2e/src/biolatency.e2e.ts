import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { bpfFds, buildC, startStack, waitFor, waitJob, type Stack } from './harness';

const SECOND = 'biolatency-n2';
const SMALL = 200; // 4 KiB O_DIRECT writes: size slot [4, 8) KiB
const LARGE = 100; // 64 KiB O_DIRECT writes: size slot [64, 128) KiB

interface Hist {
  count: string;
  mean: number;
  p50: number;
  slots: { low: number; high: number | null; count: string }[];
}
interface Pair {
  latency: Hist;
  size: Hist;
  totalBytes: string;
}
const at = (h: Hist, low: number): number => Number(h.slots.find((s) => s.low === low)?.count ?? 0);

describe('biolatency jobs, end to end on the real kernel: O_DIRECT writes of known sizes to a loop device, two nodes', () => {
  let stack: Stack;
  let writerBin: string;
  let dir = '';
  let loop = '';
  const children: ChildProcess[] = [];

  before(async () => {
    writerBin = buildC('dio_writer');
    dir = mkdtempSync(join(tmpdir(), 'tracefleet-bio-e2e-'));
    const image = join(dir, 'disk.img');
    writeFileSync(image, '');
    truncateSync(image, 32 * 1024 * 1024);
    loop = execFileSync('losetup', ['-f', '--show', '--direct-io=on', image], { encoding: 'utf8' }).trim();
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=e2e');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
    if (loop) execFileSync('losetup', ['-d', loop]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the writer (waiting for its go file); resolves with its pid and a function that lets it write and waits for it. */
  async function writer(): Promise<{ pid: number; go: () => Promise<void> }> {
    const goFile = join(dir, `go-${children.length}`);
    const child = spawn(writerBin, [loop, goFile, String(SMALL), '4096', String(LARGE), '65536'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('ready'), 10_000, 'the writer to open the loop device');
    return {
      pid: child.pid!,
      go: async () => {
        writeFileSync(goFile, '');
        await waitFor(async () => out.includes('done'), 20_000, 'the writer to finish');
      },
    };
  }

  it('per disk and per process: the size slots hold exactly the writes, latency slots the same count; merged = sum of the nodes', async () => {
    const disk = basename(loop);
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    const w = await writer();
    const res = await stack.api('POST', '/jobs', { type: 'biolatency', durationSec: 3, target: { all: true }, nodes: 'all', disk, perProcess: true });
    assert.equal(res.status, 201, res.text);
    const id = res.json.id as string;
    await waitFor(async () => {
      const job = (await stack.api('GET', `/jobs/${id}`)).json;
      for (const r of job.runs) if (r.status === 'failed') throw new Error(`run on ${r.node} failed: ${r.reason}`);
      return job.runs.length === 2 && job.runs.every((r: { status: string }) => r.status === 'running');
    }, 20_000, 'both runs to attach');
    await w.go();
    const job = await waitJob(stack, id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.links.biolatency, `/api/v1/jobs/${id}/biolatency`);

    const r = (await stack.api('GET', `/jobs/${id}/biolatency`)).json;
    const nodes = [stack.nodeName, SECOND].sort();
    assert.deepEqual(r.nodes.map((n: { node: string }) => n.node), nodes);
    assert.ok(r.nodes.every((n: { final: boolean }) => n.final), 'each node sent its final report');
    assert.deepEqual(r.notMeasured, { startFull: '0', noHist: '0', histogramsLeftOut: '0' });
    // Each node saw the same writes on the loop disk, and the run was filtered to it.
    const perNode = r.byNodeDisk as ({ node: string; disk: string } & Pair)[];
    assert.deepEqual(perNode.map((d) => [d.node, d.disk]), nodes.map((n) => [n, disk]));
    for (const d of perNode) {
      assert.equal(at(d.size, 4), SMALL, `${d.node}: ${JSON.stringify(d.size.slots)}`);
      assert.equal(at(d.size, 64), LARGE, `${d.node}: ${JSON.stringify(d.size.slots)}`);
      assert.equal(Number(d.latency.count), SMALL + LARGE, `${d.node}: latency slots sum to the requests`);
      assert.equal(d.totalBytes, String(SMALL * 4096 + LARGE * 65536));
    }
    // Per process: the writer's pid on each node holds every one of its writes.
    const mine = (r.byProcess as ({ node: string; pid: number; comm: string } & Pair)[]).filter((p) => p.pid === w.pid);
    assert.deepEqual(mine.map((p) => [p.node, p.comm]), nodes.map((n) => [n, 'dio_writer']));
    for (const p of mine) assert.deepEqual([at(p.size, 4), at(p.size, 64), Number(p.latency.count)], [SMALL, LARGE, SMALL + LARGE]);
    // Merged = the nodes' sum.
    assert.equal(at(r.merged.size, 4), 2 * SMALL);
    assert.equal(at(r.merged.size, 64), 2 * LARGE);
    assert.equal(Number(r.merged.latency.count), r.nodes.reduce((s: number, n: Pair) => s + Number(n.latency.count), 0));
    assert.equal(r.disks.length, 1);
    assert.ok(r.merged.latency.mean > 0 && r.merged.latency.p50 > 0, JSON.stringify(r.merged.latency));

    const text = await stack.api('GET', `/jobs/${id}/biolatency.txt`);
    assert.equal(text.status, 200);
    assert.match(text.text, /usecs\s+: count\s+distribution/);
    assert.match(text.text, new RegExp(`disk = ${disk} · size\\n\\s+Kbytes\\s+: count\\s+distribution\\n\\s+4 -> 7\\s+: ${2 * SMALL}\\s`));
    assert.match(text.text, new RegExp(`64 -> 127\\s+: ${2 * LARGE}\\s`));
    assert.match(text.text, /Process Name = dio_writer/);
    console.log(text.text.split('\n').slice(0, 30).join('\n'));
    const svg = await stack.api('GET', `/jobs/${id}/biolatency.svg`);
    assert.equal(svg.status, 200);
    assert.match(svg.text, /<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg.text, /4 – 7 KiB: 400/);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 10_000, 'the agents to close the jobs\' BPF fds');
  });

  it('runs in an incident bundle beside another type and on a schedule, on both nodes; a bad template is a 400 naming it', async () => {
    const disk = basename(loop);
    const res = await stack.api('POST', '/incidents', {
      name: 'biolatency e2e',
      nodes: 'all',
      bundle: [
        { type: 'biolatency', durationSec: 2, target: { all: true }, disk },
        { type: 'syscount', durationSec: 2, target: { all: true } },
      ],
    });
    assert.equal(res.status, 201, res.text);
    const sched = await stack.api('POST', '/schedules', { name: 'biolatency e2e', everyMs: 5000, nodes: 'all', job: { type: 'biolatency', durationSec: 2, target: { all: true }, queued: true } });
    assert.equal(sched.status, 201, sched.text);
    const sid = sched.json.id as string;
    try {
      const w = await writer();
      await w.go(); // while the incident's runs trace (a few ms late at worst: then some writes are not seen, none is asserted)
      let inc: { status: string; jobs: { id: string; type: string; status: string }[] } = res.json;
      await waitFor(async () => {
        inc = (await stack.api('GET', `/incidents/${res.json.id}`)).json;
        return ['completed', 'partial', 'failed'].includes(inc.status);
      }, 30_000, 'the incident to end');
      assert.equal(inc.status, 'completed', JSON.stringify(inc));
      const job = inc.jobs.find((j) => j.type === 'biolatency')!;
      const r = (await stack.api('GET', `/jobs/${job.id}/biolatency`)).json;
      assert.deepEqual(r.nodes.map((n: { node: string }) => n.node), [stack.nodeName, SECOND].sort());
      assert.ok(r.disks.every((d: { disk: string }) => d.disk === disk), JSON.stringify(r.disks.map((d: { disk: string }) => d.disk)));

      let ready: { incidentId: string }[] = [];
      await waitFor(async () => {
        const page = (await stack.api('GET', `/schedules/${sid}/reports`)).json;
        const failed = page.reports.find((x: { status: string }) => x.status === 'failed');
        if (failed) throw new Error(`report #${failed.seq} failed: ${failed.reason}`);
        ready = page.reports.filter((x: { status: string }) => x.status === 'ready');
        return ready.length >= 1;
      }, 20_000, `a ready report of schedule ${sid}`);
      const tick = (await stack.api('GET', `/incidents/${ready[0].incidentId}`)).json;
      const tickJob = tick.jobs.find((j: { type: string }) => j.type === 'biolatency');
      assert.equal(tickJob.status, 'completed', JSON.stringify(tick));
      const t = (await stack.api('GET', `/jobs/${tickJob.id}/biolatency`)).json;
      assert.deepEqual(t.nodes.map((n: { node: string; final: boolean }) => [n.node, n.final]), [[stack.nodeName, true], [SECOND, true]].sort());
    } finally {
      assert.equal((await stack.api('DELETE', `/schedules/${sid}`)).status, 200);
    }

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'biolatency', durationSec: 2, target: { all: true }, maxRequests: 5 }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.maxRequests must not be less than 64/);
  });

  it('refuses hostile requests with a 400 naming the field; a node without the disk fails its run saying so', async () => {
    const base = { type: 'biolatency', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, durationSec: 0 }, /durationSec/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, maxRequests: 1 }, /maxRequests must not be less than 64/],
      [{ ...base, maxRequests: 2 ** 20 + 1 }, /maxRequests must not be greater than 1048576/],
      [{ ...base, perProcess: 'yes' }, /perProcess must be a boolean/],
      [{ ...base, queued: 1 }, /queued must be a boolean/],
      [{ ...base, disk: '../sda' }, /disk must be a block device name/],
      [{ ...base, disk: 'x'.repeat(65) }, /disk must be a block device name/],
      [{ ...base, disk: 5 }, /disk must be a string/],
      [{ ...base, target: { comm: 'dd' } }, /target.comm is not supported by biolatency/],
      [{ ...base, type: 'runqlat', perProcess: true }, /perProcess applies only to biolatency jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
    const missing = await stack.api('POST', '/jobs', { ...base, disk: 'nosuchdisk9' });
    assert.equal(missing.status, 201, missing.text);
    const job = await waitJob(stack, missing.json.id, 20_000);
    assert.equal(job.status, 'failed', JSON.stringify(job));
    for (const r of job.runs) assert.match(r.reason, /no block device nosuchdisk9 on node/);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/biolatency')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/not-a-uuid/biolatency.txt')).status, 404);
    assert.equal((await stack.api('GET', '/jobs/00000000-0000-0000-0000-000000000000/biolatency', undefined, null)).status, 401);
  });
});
