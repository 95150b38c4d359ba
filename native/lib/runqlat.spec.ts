import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as fs from 'node:fs';
import { objectPath } from '@tracefleet/bpf';

import { RunqlatTracer, layouts, type RunqlatOptions, type RunqlatReading } from './index';
import { compileC, ensureTracefs, tempDir } from './spec-support';
import { Target, ownBpfFds } from './usdt-spec-support';
import { TestCgroup } from './target-spec-support';

/** Prints "ready", then spins on argv[1] threads until killed: more runnable threads than CPUs. */
const SPINNER = `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static void *spin(void *arg) { volatile unsigned long n = 0; for (;;) n++; return arg; }
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  pthread_t t;
  for (int i = 1; i < n; i++) pthread_create(&t, NULL, spin, NULL);
  puts("ready"); fflush(stdout);
  spin(NULL);
  return 0;
}
`;

const dir = tempDir('runqlat');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const spinner = compileC(dir, 'rq-spinner', SPINNER, ['-O1', '-pthread']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits of at least 2^from µs (default 2^10: ~1 ms), summed over the histograms. */
const slowWaits = (r: RunqlatReading, from = 10): bigint => r.histograms.reduce((s, h) => s + h.slots.slice(from).reduce((a, b) => a + b, 0n), 0n);
const allWaits = (r: RunqlatReading): bigint => r.histograms.reduce((s, h) => s + h.slots.reduce((a, b) => a + b, 0n), 0n);

async function measure(ms: number, opts: Omit<RunqlatOptions, 'objectPath'> = {}): Promise<RunqlatReading> {
  const tracer = new RunqlatTracer({ objectPath: objectPath('runqlat'), ...opts });
  try {
    tracer.start();
    await sleep(ms);
    tracer.stop();
    return tracer.read();
  } finally {
    tracer.close();
  }
}

async function withSpinner<T>(threads: number, fn: (pid: number) => Promise<T>): Promise<T> {
  const target = new Target(spinner, [String(threads)]);
  try {
    await target.waitFor('ready');
    return await fn(target.pid);
  } finally {
    target.kill();
    await target.exited;
  }
}

describe('RunqlatTracer (tp_btf sched_wakeup/sched_wakeup_new/sched_switch, real kernel)', () => {
  before(() => ensureTracefs());

  test('4 spinning threads on 2 CPUs move waits into the >= 1 ms slots, above the 1-thread baseline', async () => {
    // Measured per process (pid filter): the whole host's histogram also holds whatever else the machine
    // runs meanwhile (builds beside the tests), which moved whole-host baselines by more than the load did.
    const share = (r: RunqlatReading): number => Number(slowWaits(r)) / Math.max(1, Number(allWaits(r)));
    const fmt = (r: RunqlatReading): string => `${allWaits(r)} waits, ${slowWaits(r)} >= 1 ms (${(100 * share(r)).toFixed(1)} %), ${slowWaits(r, 13)} >= 8 ms, ${r.histograms[0]?.totalNs ?? 0n} ns waited`;
    const idle = await withSpinner(1, (pid) => measure(1500, { pid }));
    const loaded = await withSpinner(4, (pid) => measure(1500, { pid }));
    console.log(`1 thread: ${fmt(idle)}; 4 threads: ${fmt(loaded)}`);
    assert.equal(loaded.histograms.length, 1);
    assert.equal(loaded.histograms[0].cgroupId, 0n);
    assert.equal(loaded.histograms[0].slots.length, layouts().runqlat.RUNQLAT_SLOTS);
    assert.equal(loaded.latencies, allWaits(loaded), 'every measured wait is in a slot');
    assert.ok(slowWaits(loaded) >= 50n && slowWaits(loaded) > 2n * slowWaits(idle), `1 thread: ${fmt(idle)}; 4 threads: ${fmt(loaded)}`);
    // 4 threads on 2 CPUs wait about as long as they run: over 1.5 s, well above 1 s of waiting in all.
    assert.ok(loaded.histograms[0].totalNs > 1_000_000_000n, `total wait ${loaded.histograms[0].totalNs} ns`);
    assert.ok(loaded.histograms[0].totalNs > 3n * (idle.histograms[0]?.totalNs ?? 0n), `1 thread: ${fmt(idle)}; 4 threads: ${fmt(loaded)}`);
    assert.equal(loaded.noStart + loaded.noHist, 0n);
    // The whole host, for the record (not asserted: other work on the machine moves it).
    const host = await withSpinner(4, () => measure(1000));
    console.log(`whole host with the 4 threads: ${fmt(host)}`);
    assert.ok(slowWaits(host) >= slowWaits(loaded) / 4n);
  });

  test('a pid filter measures that process only: the spinner waits, a sleeping process does not', async () => {
    const sleeper = new Target('/bin/sleep', ['30']);
    try {
      await withSpinner(4, async (pid) => {
        const [mine, other] = await Promise.all([measure(1000, { pid }), measure(1000, { pid: sleeper.pid })]);
        console.log(`spinner: ${allWaits(mine)} waits, ${slowWaits(mine)} >= 1 ms; sleeper: ${allWaits(other)}`);
        assert.ok(slowWaits(mine) >= 20n, `spinner waits >= 1 ms: ${slowWaits(mine)}`);
        assert.equal(allWaits(other), 0n);
      });
    } finally {
      sleeper.kill();
      await sleeper.exited;
    }
  });

  test('perCgroup keys the histograms by the waiting thread\'s cgroup v2 id', async () => {
    const r = await withSpinner(3, () => measure(800, { perCgroup: true }));
    assert.ok(r.histograms.length >= 1);
    assert.ok(r.histograms.every((h) => h.cgroupId > 0n), r.histograms.map((h) => h.cgroupId).join(','));
    assert.equal(r.latencies, allWaits(r));
  });

  test('the smallest start map (maxTasks 64) still measures a loaded host', async () => {
    const r = await withSpinner(4, () => measure(800, { maxTasks: 64 }));
    assert.ok(r.latencies > 0n);
    assert.equal(r.latencies, allWaits(r));
  });

  test('targetCgroup admits the threads of the cgroup and of the cgroups below it, keyed by their own cgroup', async () => {
    const cgroup = new TestCgroup('runqlat');
    try {
      const below = cgroup.child('below');
      const belowId = fs.statSync(below, { bigint: true }).ino;
      await withSpinner(4, async (pid) => {
        cgroup.add(pid, below);
        const r = await measure(1000, { targetCgroup: cgroup.target, perCgroup: true });
        console.log(`cgroup: ${r.histograms.map((h) => `${h.cgroupId}: ${h.slots.reduce((a, b) => a + b, 0n)}`).join(', ')}`);
        assert.deepEqual(r.histograms.map((h) => h.cgroupId), [belowId]);
        assert.ok(slowWaits(r) >= 20n, `waits >= 1 ms in the cgroup: ${slowWaits(r)}`);
      });
      // Nothing runs in the cgroup now: nothing is measured, whatever runs outside.
      const empty = await withSpinner(4, () => measure(600, { targetCgroup: cgroup.target }));
      assert.equal(allWaits(empty), 0n);
    } finally {
      await cgroup.close();
    }
  });

  test('targetPids measures the listed processes only', async () => {
    await withSpinner(4, async (pid) => {
      const tracer = new RunqlatTracer({ objectPath: objectPath('runqlat'), targetPids: true });
      try {
        tracer.start();
        await sleep(500);
        assert.equal(tracer.read().latencies, 0n, 'nothing listed yet');
        tracer.addTargetPid(pid);
        await sleep(800);
        tracer.stop();
        assert.ok(slowWaits(tracer.read()) >= 20n, `listed spinner: ${slowWaits(tracer.read())}`);
      } finally {
        tracer.close();
      }
    });
  });

  test('close() leaves no BPF fds behind, and a closed tracer says so', () => {
    const before = ownBpfFds();
    const tracer = new RunqlatTracer({ objectPath: objectPath('runqlat'), pid: process.pid });
    tracer.start();
    tracer.stop();
    tracer.start();
    tracer.close();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.throws(() => tracer.read(), /RunqlatTracer.read\(\): the tracer is closed/);
  });

  test('hostile options are refused with a TypeError naming the option', () => {
    const o = objectPath('runqlat');
    assert.throws(() => new RunqlatTracer({ objectPath: o, pid: -1 }), (e: Error) => e instanceof TypeError && /pid/.test(e.message));
    assert.throws(() => new RunqlatTracer({ objectPath: o, pid: 1.5 }), (e: Error) => e instanceof TypeError && /pid/.test(e.message));
    assert.throws(() => new RunqlatTracer({ objectPath: o, maxTasks: 1 }), (e: Error) => e instanceof TypeError && /maxTasks/.test(e.message));
    assert.throws(() => new RunqlatTracer({ objectPath: o, perCgroup: 'yes' as never }), (e: Error) => e instanceof TypeError && /perCgroup/.test(e.message));
    assert.throws(() => new RunqlatTracer({ objectPath: o, extra: 1 } as never), (e: Error) => e instanceof TypeError && /unknown option/.test(e.message));
    assert.throws(() => new RunqlatTracer(undefined as never), TypeError);
    assert.throws(() => new RunqlatTracer({ objectPath: '/nonexistent.bpf.o' }), /open \/nonexistent.bpf.o/);
  });

  test('layout: 8-byte key, 27 slots then the sum', () => {
    const l = layouts().runqlat;
    assert.deepEqual([l.keySize, l.histSize, l.totalNsOffset, l.RUNQLAT_SLOTS], [8, 28 * 8, 27 * 8, 27]);
  });
});
