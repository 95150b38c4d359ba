import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { bpfFds, parseFolded, startStack, waitFor, waitJob, type Stack } from './harness';
import { buildFpless } from './unwind-support';

const SECOND = 'offcpu-n2';
const COMM = 'offcpu_loop';
/** offcpu_loop: 100 ms asleep in sleep_in_nanosleep, then ~20 ms of CPU in burn_cpu, per loop. */
const SLEEP_SHARE = 100 / 120;

type Folded = { frames: string[]; count: number }[];
const total = (f: Folded): number => f.reduce((s, x) => s + x.count, 0);
const under = (f: Folded, fn: string): number => f.filter((x) => x.frames.includes(fn)).reduce((s, x) => s + x.count, 0);

describe('off-cpu jobs, end to end on the real kernel: blocked time by stack, merged across two nodes', () => {
  let stack: Stack;
  let bin: string;
  const children: ChildProcess[] = [];
  const schedules: string[] = [];

  before(async () => {
    // No frame pointers: sleep_in_nanosleep shows above libc's nanosleep only through the agent's unwind tables.
    bin = buildFpless(COMM, [`${COMM}.c`]);
    stack = await startStack();
    await stack.startAgent(SECOND, 'role=offcpu');
    const loop = spawn(bin, ['0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(loop);
    await new Promise<void>((resolve, reject) => {
      loop.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      loop.once('exit', (code) => reject(new Error(`${COMM} exited (${code}) before it was ready`)));
    });
    loop.stdout!.resume();
  });
  after(async () => {
    for (const id of schedules) await stack?.api('DELETE', `/schedules/${id}`, undefined, stack.captureToken).catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  async function folded(id: string, node?: string): Promise<Folded> {
    const res = await stack.api('GET', `/jobs/${id}/flamegraph.folded${node ? `?node=${encodeURIComponent(node)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    return parseFolded(res.text);
  }

  async function create(body: Record<string, unknown>): Promise<string> {
    const res = await stack.api('POST', '/jobs', { type: 'off-cpu', durationSec: 3, target: { comm: COMM }, ...body });
    assert.equal(res.status, 201, res.text);
    return res.json.id as string;
  }

  it('a loop asleep 100 ms of every 120 puts ~5/6 of the wall time under the sleeping function, per node and merged; minBlockUs and selectors hold; a schedule reports it', async () => {
    const fdsBefore = [...stack.agents.values()].map((a) => bpfFds(a.pid!).length);
    // The schedule's first job runs beside these: everyMs is at least 5 s.
    const sched = await stack.api('POST', '/schedules', { name: 'off-cpu e2e', everyMs: 5000, nodes: { names: [SECOND] }, job: { type: 'off-cpu', durationSec: 1, target: { comm: COMM } } });
    assert.equal(sched.status, 201, sched.text);
    schedules.push(sched.json.id);

    const [all, long, wall] = await Promise.all([
      create({ nodes: 'all', minBlockUs: 1000 }),
      // Every sleep is shorter than 150 ms: (almost) nothing is counted. Only the node with the label runs it.
      create({ nodes: { labels: { role: 'offcpu' } }, minBlockUs: 150_000 }),
      // The wall-clock view: on-CPU samples beside the blocked time, per thread.
      create({ nodes: { names: [stack.nodeName] }, wallClockHz: 99 }),
    ]);
    const [job, longJob, wallJob] = await Promise.all([waitJob(stack, all, 60_000), waitJob(stack, long, 60_000), waitJob(stack, wall, 60_000)]);
    assert.equal(wallJob.status, 'completed', JSON.stringify(wallJob));
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(longJob.status, 'completed', JSON.stringify(longJob));
    assert.deepEqual(job.runs.map((r: { node: string }) => r.node).sort(), [stack.nodeName, SECOND].sort());
    assert.deepEqual(longJob.runs.map((r: { node: string }) => r.node), [SECOND], 'the label selector picks the second node only');
    assert.ok(job.links.flamegraphSvg && job.links.flamegraphFolded, JSON.stringify(job.links));

    const merged = await folded(all);
    const nodes = [stack.nodeName, SECOND];
    const perNode = await Promise.all(nodes.map((n) => folded(all, n)));
    const expected = 3_000_000 * SLEEP_SHARE;
    for (const [i, f] of perNode.entries()) {
      const t = total(f);
      const sleeper = under(f, 'sleep_in_nanosleep');
      console.log(`${nodes[i]}: ${t} µs off-CPU (expected ~${Math.round(expected)}), ${sleeper} under sleep_in_nanosleep (${((100 * sleeper) / Math.max(1, t)).toFixed(1)} %), ${under(f, 'burn_cpu')} under burn_cpu`);
      assert.ok(t > 0.75 * expected && t < 1.25 * expected, `${nodes[i]}: ${t} µs blocked in 3 s, expected ${expected} ± 25 %`);
      assert.ok(sleeper >= 0.8 * t, `${nodes[i]}: ${sleeper} of ${t} µs under sleep_in_nanosleep`);
      assert.ok(under(f, 'burn_cpu') <= 0.05 * t, `${nodes[i]}: burn_cpu blocks ${under(f, 'burn_cpu')} µs`);
      // Root first: the process, main, the sleeper, libc's nanosleep, then the kernel from schedule down.
      const top = f.filter((x) => x.frames.includes('sleep_in_nanosleep')).sort((a, b) => b.count - a.count)[0];
      const at = (re: RegExp): number => top.frames.findIndex((fr) => re.test(fr));
      assert.equal(top.frames[0], COMM);
      assert.ok(at(/^main$/) > 0 && at(/^main$/) < at(/^sleep_in_nanosleep$/), top.frames.join(';'));
      assert.ok(at(/^sleep_in_nanosleep$/) < at(/nanosleep@|^__nanosleep|^clock_nanosleep/), top.frames.join(';'));
      assert.ok(at(/^__schedule/) > at(/^sleep_in_nanosleep$/), `kernel stack below the user frames: ${top.frames.join(';')}`);
    }
    // Merged is the sum of the nodes, stack by stack.
    assert.equal(total(merged), perNode.reduce((s, f) => s + total(f), 0));
    assert.equal(under(merged, 'sleep_in_nanosleep'), perNode.reduce((s, f) => s + under(f, 'sleep_in_nanosleep'), 0));

    const longTotal = total(await folded(long));
    console.log(`minBlockUs 150000: ${longTotal} µs`);
    assert.ok(longTotal <= 0.1 * total(perNode[1]), `blocks >= 150 ms: ${longTotal} µs`);

    const svg = await stack.api('GET', `/jobs/${all}/flamegraph.svg`);
    assert.equal(svg.status, 200);
    assert.match(svg.text, /Off-CPU time · job/);
    assert.match(svg.text, /µs blocked \(blocks ≥ 1000 µs\)/);
    assert.match(svg.text, /sleep_in_nanosleep/);

    // Wall clock: the loop's one thread, on the CPU ~1/6 of the time (in burn_cpu), blocked the rest (in the sleeper).
    const w = await folded(wall);
    const tids = new Set(w.map((x) => x.frames[1]));
    assert.equal(tids.size, 1, [...tids].join(','));
    assert.match([...tids][0], /^tid \d+$/);
    const on = w.filter((x) => x.frames[2] === 'on-CPU');
    const off = w.filter((x) => x.frames[2] === 'off-CPU');
    assert.equal(on.length + off.length, w.length, 'every stack is on-CPU or off-CPU');
    console.log(`wall clock: ${total(off)} µs off-CPU, ${total(on)} µs on-CPU (${under(on, 'burn_cpu')} under burn_cpu)`);
    assert.ok(total(w) > 0.75 * 3_000_000 && total(w) < 1.25 * 3_000_000, `thread's wall time ${total(w)} µs in 3 s`);
    assert.ok(total(on) > 0.2e6 && total(on) < 1.2e6, `on-CPU ${total(on)} µs (expected ~500,000)`);
    assert.ok(under(on, 'burn_cpu') >= 0.6 * total(on), `on-CPU under burn_cpu: ${under(on, 'burn_cpu')} of ${total(on)}`);
    assert.ok(under(off, 'sleep_in_nanosleep') >= 0.8 * total(off));
    assert.match((await stack.api('GET', `/jobs/${wall}/flamegraph.svg`)).text, /Wall-clock time · job/);

    // pprof and speedscope weigh the same stacks by µs.
    const ss = await stack.api('GET', `/jobs/${all}/profile.speedscope.json`);
    assert.equal(ss.status, 200, ss.text);
    assert.ok(ss.json.profiles.every((p: { unit: string }) => p.unit === 'microseconds'));
    assert.equal(ss.json.profiles[0].weights.reduce((a: number, b: number) => a + b, 0), total(merged));
    const pprof = await fetch(`${stack.base}/jobs/${all}/profile.pprof`, { headers: { authorization: `Bearer ${stack.apiToken}` } });
    assert.equal(pprof.status, 200);
    const raw = gunzipSync(Buffer.from(await pprof.arrayBuffer())).toString('latin1');
    assert.ok(raw.includes('off_cpu') && raw.includes('microseconds') && raw.includes('sleep_in_nanosleep'), 'pprof sample type off_cpu/microseconds');

    let report: any;
    await waitFor(async () => {
      const page = (await stack.api('GET', `/schedules/${sched.json.id}/reports`)).json;
      const failed = page.reports.find((r: any) => r.status === 'failed');
      if (failed) throw new Error(`report #${failed.seq} failed: ${failed.reason}`);
      report = page.reports.find((r: any) => r.status === 'ready');
      return report !== undefined;
    }, 30_000, 'a ready report of the off-cpu schedule');
    const full = (await stack.api('GET', `/schedules/${sched.json.id}/reports/${report.id}`)).json;
    assert.ok(full.topFunctions.byTotal.some((f: any) => f.name === 'sleep_in_nanosleep'), JSON.stringify(full.topFunctions.byTotal.slice(0, 8)));
    assert.deepEqual(Object.keys(full.nodeTotals), [SECOND]);
    await stack.api('DELETE', `/schedules/${sched.json.id}`, undefined, stack.captureToken);

    await waitFor(async () => [...stack.agents.values()].every((a, i) => bpfFds(a.pid!).length <= fdsBefore[i]), 10_000, "the agents to close the jobs' BPF fds");
  });

  it('runs in an incident bundle beside another type, on both nodes; bad templates are a 400 naming the field', async () => {
    const res = await stack.api('POST', '/incidents', {
      name: 'off-cpu e2e',
      nodes: 'all',
      bundle: [
        { type: 'off-cpu', durationSec: 2, target: { comm: COMM }, kernelStacks: false },
        { type: 'syscount', durationSec: 2, target: { all: true } },
      ],
    });
    assert.equal(res.status, 201, res.text);
    let inc: { status: string; jobs: { id: string; type: string }[] } = res.json;
    await waitFor(async () => {
      inc = (await stack.api('GET', `/incidents/${res.json.id}`)).json;
      return ['completed', 'partial', 'failed'].includes(inc.status);
    }, 60_000, 'the incident to end');
    assert.equal(inc.status, 'completed', JSON.stringify(inc));
    const f = await folded(inc.jobs.find((j) => j.type === 'off-cpu')!.id);
    assert.ok(under(f, 'sleep_in_nanosleep') >= 0.8 * total(f) && total(f) > 1_000_000, `${total(f)} µs, ${under(f, 'sleep_in_nanosleep')} under the sleeper`);
    assert.ok(f.every((x) => !x.frames.some((fr) => /_\[k\]$/.test(fr))), 'kernelStacks false: no kernel frames');

    const bad = await stack.api('POST', '/incidents', { nodes: 'all', bundle: [{ type: 'off-cpu', durationSec: 2, target: { all: true }, minBlockUs: 0 }] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /bundle\[0\]\.minBlockUs must not be less than 1/);
    const badSched = await stack.api('POST', '/schedules', { everyMs: 6000, nodes: 'all', job: { type: 'off-cpu', durationSec: 1, target: { all: true }, kernelStacks: 'no' } });
    assert.equal(badSched.status, 400, badSched.text);
    assert.match(badSched.text, /kernelStacks must be a boolean/);
  });

  it('refuses hostile requests with a 400 naming the field', async () => {
    const base = { type: 'off-cpu', durationSec: 2, target: { all: true }, nodes: 'all' };
    for (const [body, re] of [
      [{ ...base, durationSec: 0 }, /durationSec/],
      [{ ...base, bogusField: 1 }, /bogusField should not exist/],
      [{ ...base, minBlockUs: 0 }, /minBlockUs must not be less than 1/],
      [{ ...base, minBlockUs: 3_600_000_001 }, /minBlockUs must not be greater than 3600000000/],
      [{ ...base, minBlockUs: 1.5 }, /minBlockUs must be an integer/],
      [{ ...base, minBlockUs: '1000' }, /minBlockUs must be an integer/],
      [{ ...base, kernelStacks: 'yes' }, /kernelStacks must be a boolean/],
      [{ ...base, wallClockHz: 1001 }, /wallClockHz must not be greater than 1000/],
      [{ ...base, wallClockHz: -1 }, /wallClockHz must not be less than 0/],
      [{ ...base, frequencyHz: 99 }, /frequencyHz applies only to cpu-profile jobs/],
      [{ ...base, type: 'cpu-profile', minBlockUs: 10 }, /minBlockUs applies only to off-cpu jobs/],
    ] as const) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
      assert.match(res.text, re);
    }
  });
});
