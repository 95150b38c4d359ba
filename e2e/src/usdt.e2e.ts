import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, WORK, buildC, sleep, startRunningJob, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchCollecting, type Launched } from './processes';

const JAVA_HOME = '/usr/lib/jvm/java-17-openjdk-amd64';
const LIBJVM = `${JAVA_HOME}/lib/server/libjvm.so`;
const PYTHON = '/usr/bin/python3.11';

describe('usdt jobs, end to end on the real kernel', () => {
  let stack: Stack;
  let sdtBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    for (const f of [`${JAVA_HOME}/bin/java`, `${JAVA_HOME}/bin/javac`, LIBJVM, PYTHON]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: npm run setup installs openjdk-17-jdk-headless and python3.11`);
    }
    sdtBin = buildC('sdt_demo');
    mkdirSync(WORK, { recursive: true });
    const javac = spawnSync(`${JAVA_HOME}/bin/javac`, ['-d', WORK, join(FIXTURES, 'GcLoop.java')], { encoding: 'utf8' });
    if (javac.status !== 0) throw new Error(`javac GcLoop.java failed: ${javac.stderr}`);
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
  });

  const launch = (cmd: string, args: string[]): Launched => launchCollecting(children, cmd, args);

  function goFile(name: string): string {
    const f = join(WORK, `${name}-${process.pid}.go`);
    rmSync(f, { force: true });
    return f;
  }

  const startJob = (body: Record<string, unknown>): Promise<string> => startRunningJob(stack, { type: 'usdt', ...body });

  it('counts a C program\'s probes exactly, with exact arguments, and fires its semaphore-guarded probe', async () => {
    const N = 5000;
    const go = goFile('sdt');
    const prog = launch(sdtBin, [String(N), go]);
    await sleep(200);
    const id = await startJob({ durationSec: 6, target: { pid: prog.pid }, probes: ['tfdemo:tick', 'tfdemo:guarded'], maxEvents: 20_000 });
    writeFileSync(go, '');
    await waitFor(async () => prog.output().includes('fired'), 10_000, 'the fixture to fire its probes');
    assert.match(prog.output(), new RegExp(`fired ${N} guarded ${N}`));
    const job = await waitJob(stack, id, 30_000);
    prog.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    const res = (await stack.api('GET', `/jobs/${id}/usdt`)).json;
    const count = (p: string) => res.probes.find((x: { probe: string }) => x.probe === p)?.count;
    assert.equal(count('tfdemo:tick'), N);
    assert.equal(count('tfdemo:guarded'), N);
    assert.equal(job.runs[0].samplesLostTransit, 0);

    const args: string[][] = [];
    let after: string | null = null;
    do {
      const page: { events: { args: string[] }[]; next: string | null } = (await stack.api('GET', `/jobs/${id}/usdt/events?probe=tfdemo:tick&limit=1000${after ? `&after=${after}` : ''}`)).json;
      for (const e of page.events) args.push(e.args);
      after = page.next;
    } while (after);
    assert.equal(args.length, N);
    args.forEach((a, i) => assert.deepEqual(a.slice(0, 2), [String(i), String(1000 + i)], `event ${i}`));
  });

  it('python-gc: K gc.collect() calls give K gc__start/gc__done pairs with generation 2', async () => {
    const K = 7;
    const go = goFile('py');
    const py = launch(PYTHON, [join(FIXTURES, 'gc_loop.py'), String(K), go]);
    await waitFor(async () => py.output().includes('ready'), 10_000, 'python to start');
    const id = await startJob({ durationSec: 4, target: { pid: py.pid }, preset: 'python-gc' });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 30_000);
    py.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.match(py.output(), /gc done 7/);
    const res = (await stack.api('GET', `/jobs/${id}/usdt`)).json;
    const gc = res.pairs.find((p: { label: string }) => p.label === 'gc');
    assert.equal(gc.count, K, JSON.stringify(res));
    assert.ok(BigInt(gc.totalNs) > 0n);
    assert.equal(gc.histogram.reduce((a: number, b: { count: number }) => a + b.count, 0), K);
    const starts = (await stack.api('GET', `/jobs/${id}/usdt/events?probe=python:gc__start&limit=100`)).json.events;
    assert.equal(starts.length, K);
    for (const e of starts) assert.equal(e.args[0], '2');
  });

  it('jvm-gc: K System.gc() calls give at least K GC pauses with durations, and pool names', async () => {
    const K = 5;
    const go = goFile('jvm');
    const jvm = launch(`${JAVA_HOME}/bin/java`, ['-Xmx256m', '-cp', WORK, 'GcLoop', String(K), go]);
    await waitFor(async () => jvm.output().includes('ready'), 30_000, 'the JVM to start');
    const id = await startJob({ durationSec: 6, target: { pid: jvm.pid }, preset: 'jvm-gc', slowestN: 3 });
    writeFileSync(go, '');
    const job = await waitJob(stack, id, 40_000);
    jvm.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.match(jvm.output(), /gc done 5/);
    const res = (await stack.api('GET', `/jobs/${id}/usdt`)).json;
    const gc = res.pairs.find((p: { label: string }) => p.label === 'gc');
    assert.ok(gc.count >= K, `only ${gc.count} GC pauses: ${JSON.stringify(res)}`);
    assert.ok(gc.slowest.length === 3 && gc.slowest.every((o: { durationNs: string }) => BigInt(o.durationNs) > 0n));
    const pools = res.pairs.filter((p: { label: string }) => p.label.startsWith('mem_pool_gc['));
    assert.ok(pools.length > 0, `no pool names: ${res.pairs.map((p: { label: string }) => p.label)}`);
    assert.ok(pools.some((p: { label: string }) => /Eden|Old|Survivor|Tenured|Heap/.test(p.label)), pools.map((p: { label: string }) => p.label).join(', '));
  });

  it('lists the probes of libjvm.so and python3.11', async () => {
    const jvm = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=${encodeURIComponent(LIBJVM)}`);
    assert.equal(jvm.status, 200, jvm.text);
    const names = jvm.json.probes.map((p: { provider: string; name: string }) => `${p.provider}:${p.name}`);
    for (const n of ['hotspot:gc__begin', 'hotspot:gc__end', 'hotspot:mem__pool__gc__begin']) assert.ok(names.includes(n), n);
    const py = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=${PYTHON}`);
    assert.equal(py.status, 200, py.text);
    const start = py.json.probes.find((p: { name: string }) => p.name === 'gc__start');
    assert.equal(start.provider, 'python');
    assert.ok(start.semaphore, 'python:gc__start is semaphore-guarded');
    assert.equal((await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=/no/such/file`)).status, 422);
    assert.equal((await stack.api('GET', `/nodes/${stack.nodeName}/usdt`)).status, 400);
    assert.equal((await stack.api('GET', `/nodes/not-a-node/usdt?pid=1`)).status, 404);
  });

  it('names a missing probe and binary in the node\'s failure, and rejects malformed probes with 400', async () => {
    const res = await stack.api('POST', '/jobs', { type: 'usdt', durationSec: 2, target: { all: true }, binary: PYTHON, probes: ['python:no_such_probe'], nodes: 'all' });
    assert.equal(res.status, 201, res.text);
    const job = await waitJob(stack, res.json.id, 20_000);
    assert.equal(job.status, 'failed');
    assert.match(job.runs[0].reason, /probe python:no_such_probe not found in \/usr\/bin\/python3.11/);

    const bad = await stack.api('POST', '/jobs', { type: 'usdt', durationSec: 2, target: { pid: process.pid }, probes: ['not a probe'], nodes: 'all' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message.join(), /probes must be "provider:probe"/);
    const missing = await stack.api('POST', '/jobs', { type: 'usdt', durationSec: 2, target: { all: true }, binary: '/no/such/bin', probes: ['a:b'], nodes: 'all' });
    assert.equal(missing.status, 201);
    const mj = await waitJob(stack, missing.json.id, 20_000);
    assert.match(mj.runs[0].reason, /binary \/no\/such\/bin does not exist/);
  });
});
