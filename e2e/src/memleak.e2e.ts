import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, WORK, buildC, startRunningJob, startStack, waitFor, waitForLibc, waitJob, type Stack } from './harness';

const S = 4096;
const PYTHON = '/usr/bin/python3.11';

interface LeakStack {
  frames: string[];
  bytes: string;
  count: number;
  growing: boolean;
}

describe('memleak jobs, end to end on the real kernel', () => {
  let stack: Stack;
  let bin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    bin = buildC('leak');
    stack = await startStack();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  function launch(args: string[]): ChildProcess & { output: () => string } {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: () => string };
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.output = () => out;
    children.push(child);
    return child;
  }

  async function runLeak(mode: string, k: number, body: Record<string, unknown>, exit = false) {
    const go = join(WORK, `leak-${mode}-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = launch([mode, String(k), go, ...(exit ? ['exit'] : [])]);
    await waitForLibc(prog.pid!);
    const id = await startRunningJob(stack, { type: 'memleak', target: { pid: prog.pid }, ...body });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 60_000);
    prog.kill('SIGKILL');
    rmSync(go, { force: true });
    const leaks = (await stack.api('GET', `/jobs/${id}/memleak`)).json;
    return { job, leaks, output: prog.output() };
  }

  const through = (fn: string) => (s: LeakStack) => s.frames.includes(fn);
  const sum = (xs: LeakStack[]) => xs.reduce((a, s) => a + Number(s.bytes), 0);

  it("attributes a known leak to main → serve → leak_here, and churn leaves nothing outstanding (malloc probed at its ret sites only: mallocProbe 'returns')", async () => {
    const K = 40;
    const { job, leaks, output } = await runLeak('basic', K, { durationSec: 8, intervalSec: 2, mallocProbe: 'returns' });
    assert.match(output, new RegExp(`leaked ${K}`));
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const top: LeakStack[] = leaks.merged.top;
    const total = Number(leaks.merged.totalBytes);
    const leakStacks = top.filter(through('leak_here'));
    assert.ok(leakStacks.length > 0, JSON.stringify(top.slice(0, 5)));
    for (const s of leakStacks) {
      const i = s.frames.indexOf('leak_here');
      assert.ok(s.frames.indexOf('serve') < i && s.frames.indexOf('main') < s.frames.indexOf('serve'), s.frames.join(';'));
    }
    const leaked = sum(leakStacks);
    assert.ok(leaked / total >= 0.95, `${leaked} of ${total} outstanding bytes through leak_here`);
    // Each stack of a node's top has its bytes at every snapshot of that node (the console's growth chart): the last is now.
    const firstNode = leaks.nodes[0] as { snapshots: unknown[]; top: (LeakStack & { series: string[] })[] };
    for (const s of firstNode.top) {
      assert.equal(s.series.length, firstNode.snapshots.length, 'one value per snapshot');
      assert.equal(s.series[s.series.length - 1], s.bytes, 'the last value is the stack at the last snapshot');
    }
    // malloc is probed at its ret sites only: sizes are the usable sizes of the chunk headers, 8 to 23 bytes over each request.
    assert.ok(leaked >= K * S && leaked <= K * (S + 23), `${leaked} bytes through leak_here, expected ${K * S} plus under ${K * 24} of chunk rounding`);
    // Debian 12's malloc: its tcache path's `jne` (emulated, inside the frame, the stack walked by the unwind tables)
    // and a single-stepped ret for each of the other paths (return-cover.ts).
    const sites = /malloc: a probe on each of its \d+ return sites \((.*); (\d+) emulated, (\d+) a single-stepped ret\) and none at its entry .*usable sizes from the chunk header/.exec(job.runs[0].reason ?? '');
    assert.ok(sites, JSON.stringify(job.runs[0]));
    assert.ok(Number(sites[2]) >= 1, `no emulated site inside malloc: ${sites[1]}`);
    assert.ok(sum(top.filter(through('churn'))) <= 2 * (64 + 255), 'churn keeps at most what is in flight');
    const node = leaks.nodes[0];
    assert.ok(node.snapshots.length >= 2, 'periodic snapshots while the job ran');
    assert.equal(node.snapshots.at(-1).final, true);
    assert.ok(node.snapshots.at(-1).allocsSeen >= K * 5000, 'every allocation was seen');
    assert.equal(node.snapshots.at(-1).untracked, 0);

    const svg = await stack.api('GET', `/jobs/${job.id}/flamegraph.svg`);
    assert.match(svg.text, /leak_here/);
    assert.match(svg.text, /bytes/);
  });

  it("names the Python function that keeps allocating: main → <module> → hoard (hoard.py) holds the leaked bytes", async () => {
    const go = join(WORK, `hoard-${process.pid}.go`);
    rmSync(go, { force: true });
    const prog = spawn(PYTHON, [join(FIXTURES, 'python', 'hoard.py'), go], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(prog);
    let out = '';
    prog.stdout!.on('data', (d) => (out += d));
    await waitFor(async () => out.includes('ready'), 10_000, 'the python hoarder');
    await waitForLibc(prog.pid!);
    const id = await startRunningJob(stack, { type: 'memleak', target: { pid: prog.pid }, durationSec: 5, intervalSec: 1 });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 60_000);
    prog.kill('SIGKILL');
    rmSync(go, { force: true });
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.match(out, /leaked \d+00/);
    assert.match(job.runs[0].reason ?? '', /python: 1 process\(es\) \(3\.11\.\d+\) with Python frames/, JSON.stringify(job.runs[0]));
    const leaks = (await stack.api('GET', `/jobs/${id}/memleak`)).json;
    const top: LeakStack[] = leaks.merged.top;
    const total = Number(leaks.merged.totalBytes);
    const hoard = (f: string): boolean => /^hoard \(hoard\.py:\d+\)$/.test(f);
    const named = top.filter((s) => {
      const main = s.frames.findIndex((f) => f === 'main' || f === 'Py_BytesMain');
      const module = s.frames.findIndex((f) => /^<module> \(hoard\.py:\d+\)$/.test(f));
      return main >= 0 && module > main && s.frames.findIndex(hoard) > module;
    });
    const leaked = sum(named);
    assert.ok(leaked >= 20 * 100 * S, `${leaked} bytes under main → <module> → hoard:\n${top.slice(0, 5).map((s) => `${s.bytes} ${s.frames.join(';')}`).join('\n')}`);
    assert.ok(leaked / total >= 0.8, `${leaked} of ${total} outstanding bytes under hoard:\n${top.slice(0, 5).map((s) => `${s.bytes} ${s.frames.join(';')}`).join('\n')}`);
  });

  it('attributes calloc, realloc and posix_memalign leaks to their own functions with exact sizes', async () => {
    const K = 25;
    const { leaks } = await runLeak('variants', K, { durationSec: 5, intervalSec: 1 });
    const top: LeakStack[] = leaks.merged.top;
    assert.equal(sum(top.filter(through('calloc_leak'))), K * 16 * 512);
    assert.equal(sum(top.filter(through('realloc_leak'))), K * 3 * S, 'only the final realloc size stays outstanding');
    assert.equal(sum(top.filter(through('memalign_leak'))), K * 2 * S);
  });

  it('ends tracking cleanly when the target exits, reporting what it had', async () => {
    const K = 10;
    const { job, leaks } = await runLeak('basic', K, { durationSec: 20, intervalSec: 1 }, true);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.runs[0].targetExited, true);
    assert.ok(Date.now() - new Date(job.createdAt).getTime() < 20_000, 'the run ended with its target, not at its duration');
    const leaked = sum((leaks.merged.top as LeakStack[]).filter(through('leak_here')));
    assert.equal(leaked, K * S, "mallocProbe 'entry' (the default): exact sizes");
    assert.doesNotMatch(job.runs[0].reason ?? '', /malloc: /, 'nothing to say about the default probes');
  });

  it('kernel mode on the whole node returns stacks with kernel symbols', async () => {
    const res = await stack.api('POST', '/jobs', { type: 'memleak', durationSec: 3, intervalSec: 1, target: { all: true }, nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const job = await waitJob(stack, res.json.id, 30_000);
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const leaks = (await stack.api('GET', `/jobs/${job.id}/memleak`)).json;
    assert.equal(leaks.mode, 'kernel');
    const kernelFrames = (leaks.merged.top as LeakStack[]).flatMap((s) => s.frames).filter((f) => f.endsWith('_[k]'));
    assert.ok(kernelFrames.length > 0, JSON.stringify(leaks.merged.top.slice(0, 3)));
    assert.ok(leaks.nodes[0].snapshots.at(-1).allocsSeen > 0);
  });

  it('rejects bad input with 400 naming the field', async () => {
    const ok = { type: 'memleak', durationSec: 5, target: { pid: process.pid }, nodes: 'all' };
    const cases: [unknown, RegExp][] = [
      [{ ...ok, target: { pid: 4_000_000 } }, /target.pid/],
      [{ ...ok, intervalSec: 0 }, /intervalSec/],
      [{ ...ok, sampleEvery: 0 }, /sampleEvery/],
      [{ ...ok, intervalSec: 10 }, /intervalSec must not be greater than durationSec/],
      [{ ...ok, mallocProbe: 'sometimes' }, /mallocProbe/],
      [{ ...ok, mallocProbe: 'returns', target: { all: true } }, /mallocProbe is for user mode/],
    ];
    for (const [body, re] of cases) {
      const res = await stack.api('POST', '/jobs', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
      assert.match(res.json.message.join(), re);
    }
  });
});
