import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as fs from 'node:fs';
import { objectPath } from '@tracefleet/bpf';

import { OffCpuTracer, Symbolizer, Unwinder, layouts, type OffCpuDelta, type OffCpuOptions } from './index';
import { compileC, tempDir } from './spec-support';
import { Target, ownBpfFds } from './usdt-spec-support';

/**
 * Prints "ready", then loops: 50 ms asleep in sleeper() (libc's nanosleep), ~10 ms of CPU in burner().
 * Built without frame pointers: sleeper is nanosleep's caller in the stack only through the unwind tables.
 */
const SLEEPER = `
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
__attribute__((noinline)) void sleeper(void) { struct timespec t = {0, 50000000}; nanosleep(&t, NULL); __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void burner(void) { volatile unsigned long a = 0; double end = now() + 0.01; while (now() < end) for (int i = 0; i < 1000; i++) a += i; }
int main(void) { puts("ready"); fflush(stdout); for (;;) { sleeper(); burner(); } }
`;

const dir = tempDir('offcpu');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const sleeperBin = compileC(dir, 'offcpu-sleeper', SLEEPER, ['-O2', '-fomit-frame-pointer', '-g']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const totalUs = (ds: OffCpuDelta[]): number => ds.reduce((s, d) => s + d.us, 0);

async function withSleeper<T>(fn: (pid: number) => Promise<T>): Promise<T> {
  const target = new Target(sleeperBin, []);
  try {
    await target.waitFor('ready');
    return await fn(target.pid);
  } finally {
    target.kill();
    await target.exited;
  }
}

async function measure(ms: number, opts: Omit<OffCpuOptions, 'objectPath'>): Promise<{ deltas: OffCpuDelta[]; tracer: OffCpuTracer }> {
  const tracer = new OffCpuTracer({ objectPath: objectPath('offcpu'), ...opts });
  tracer.start();
  await sleep(ms);
  tracer.stop();
  return { deltas: tracer.read(), tracer };
}

describe('OffCpuTracer (tp_btf sched_switch, real kernel)', () => {
  test('a process asleep 50 ms of every 60 shows ~5/6 of the wall time blocked, under sleeper() through the unwind tables', async () => {
    const unwinder = new Unwinder();
    const symbolizer = new Symbolizer();
    try {
      await withSleeper(async (pid) => {
        await unwinder.addProcess(pid);
        const { deltas, tracer } = await measure(1500, { pid, unwinder });
        try {
          const stats = tracer.stats();
          const us = totalUs(deltas);
          const named = deltas.map((d) => ({ d, user: symbolizer.symbolizeUser(pid, d.userStack), kernel: symbolizer.symbolizeKernel(d.kernelStack) }));
          const underSleeper = named.filter((n) => n.user.some((f) => f.startsWith('sleeper'))).reduce((s, n) => s + n.d.us, 0);
          console.log(`${deltas.length} keys, ${us} µs blocked, ${underSleeper} µs under sleeper; ${stats.blocks} blocks, ${stats.short} short`);
          for (const n of named.slice(0, 3)) console.log(`  ${n.d.us} µs ${n.d.blocks} blocks: ${n.user.join(' < ')} | ${n.kernel.slice(0, 4).join(' < ')}`);
          // ~1250 ms of 1500 asleep: wide bounds for a busy machine, tight enough to tell time from counts.
          assert.ok(us > 900_000 && us < 1_600_000, `blocked ${us} µs in 1.5 s`);
          assert.ok(underSleeper >= 0.95 * us, `under sleeper: ${underSleeper} of ${us} µs`);
          const top = named.find((n) => n.user.some((f) => f.startsWith('sleeper')))!;
          assert.ok(top.user.some((f) => f.startsWith('main')), `main above sleeper: ${top.user.join(' < ')}`);
          assert.ok(/^__schedule/.test(top.kernel[0] ?? ''), `kernel stack from __schedule (the program's own frames left out): ${top.kernel.join(' < ')}`);
          assert.ok(deltas.every((d) => d.pid === pid && d.comm === 'offcpu-sleeper'));
          const blocks = deltas.reduce((s, d) => s + d.blocks, 0);
          assert.equal(BigInt(blocks), stats.blocks, 'every counted block is in a key');
          assert.ok(blocks >= 15 && blocks <= 40, `blocks: ${blocks} (about 25 sleeps)`);
          assert.equal(stats.noStart + stats.noCount + stats.noUserStack, 0n);
          assert.ok(stats.unwind.framesTable > 0n, JSON.stringify(stats.unwind, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
          // A second read adds nothing: the tracepoint is detached and every key was read.
          assert.deepEqual(tracer.read(), []);
        } finally {
          tracer.close();
        }
      });
    } finally {
      symbolizer.close();
      unwinder.close();
    }
  });

  test('minBlockNs leaves shorter blocks out; reads return growth only, and sum to the total', async () => {
    await withSleeper(async (pid) => {
      const tracer = new OffCpuTracer({ objectPath: objectPath('offcpu'), pid, minBlockNs: 60_000_000, kernelStacks: false });
      try {
        tracer.start();
        await sleep(600);
        const first = tracer.read();
        await sleep(600);
        tracer.stop();
        const second = tracer.read();
        const stats = tracer.stats();
        // Every 50 ms sleep is shorter than 60 ms: none is counted (a sleep stretched past 60 ms by a busy CPU may be).
        assert.ok(totalUs(first) + totalUs(second) < 200_000, `blocks over 60 ms: ${totalUs(first) + totalUs(second)} µs`);
        assert.ok(stats.short >= 10n, `short blocks: ${stats.short}`);
        assert.ok([...first, ...second].every((d) => d.kernelStack.length === 0 && d.kernelStackError === 0));
      } finally {
        tracer.close();
      }
    });
    await withSleeper(async (pid) => {
      const tracer = new OffCpuTracer({ objectPath: objectPath('offcpu'), pid });
      try {
        tracer.start();
        await sleep(500);
        const first = tracer.read();
        await sleep(500);
        tracer.stop();
        const second = tracer.read();
        assert.ok(totalUs(first) > 200_000 && totalUs(second) > 200_000, `${totalUs(first)} then ${totalUs(second)} µs`);
        assert.ok(totalUs(first) + totalUs(second) < 1_100_000, `${totalUs(first) + totalUs(second)} µs in 1 s`);
      } finally {
        tracer.close();
      }
    });
  });

  test('a pid filter measures that process only; targetPids measures the listed ones only', async () => {
    await withSleeper(async (pid) => {
      // A process asleep the whole time has no block that ends: nothing, while the sleeper blocks 8 times a second.
      const idle = new Target('/bin/sleep', ['30']);
      try {
        const other = await measure(500, { pid: idle.pid });
        other.tracer.close();
        assert.deepEqual(other.deltas, []);
      } finally {
        idle.kill();
        await idle.exited;
      }
      const tracer = new OffCpuTracer({ objectPath: objectPath('offcpu'), targetPids: true });
      try {
        tracer.start();
        await sleep(400);
        assert.deepEqual(tracer.read(), [], 'nothing listed yet');
        tracer.addTargetPid(pid);
        await sleep(600);
        tracer.stop();
        const ds = tracer.read();
        assert.ok(ds.length > 0 && ds.every((d) => d.pid === pid), JSON.stringify(ds.map((d) => d.pid)));
      } finally {
        tracer.close();
      }
    });
  });

  test('wallClockHz adds on-CPU samples per thread: blocked + on-CPU time of the thread is its wall time', async () => {
    const unwinder = new Unwinder();
    const symbolizer = new Symbolizer();
    try {
      await withSleeper(async (pid) => {
        await unwinder.addProcess(pid);
        const { deltas, tracer } = await measure(1500, { pid, unwinder, wallClockHz: 199 });
        tracer.close();
        const on = deltas.filter((d) => d.onCpu);
        const off = deltas.filter((d) => !d.onCpu);
        const burner = on.filter((d) => symbolizer.symbolizeUser(pid, d.userStack).some((f) => f.startsWith('burner'))).reduce((s, d) => s + d.us, 0);
        console.log(`wall clock: ${totalUs(off)} µs off, ${totalUs(on)} µs on (${burner} under burner), tids ${[...new Set(deltas.map((d) => d.tid))].join(',')}`);
        assert.ok(deltas.every((d) => d.tid === pid), 'one thread: its tid on every key');
        // 1.5 s of wall time: ~1.25 s asleep, ~0.25 s on the CPU (sampled at 199 Hz: ~50 samples).
        assert.ok(totalUs(on) > 120_000 && totalUs(on) < 600_000, `on-CPU ${totalUs(on)} µs`);
        assert.ok(burner >= 0.7 * totalUs(on), `on-CPU under burner: ${burner} of ${totalUs(on)} µs`);
        const wall = totalUs(on) + totalUs(off);
        assert.ok(wall > 1_200_000 && wall < 1_800_000, `on + off ${wall} µs in 1.5 s`);
      });
    } finally {
      symbolizer.close();
      unwinder.close();
    }
  });

  test('close() leaves no BPF fds behind, and a closed tracer says so', () => {
    const before = ownBpfFds();
    const tracer = new OffCpuTracer({ objectPath: objectPath('offcpu'), pid: process.pid });
    tracer.start();
    tracer.stop();
    tracer.start();
    tracer.close();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.throws(() => tracer.read(), /OffCpuTracer.read\(\): the tracer is closed/);
  });

  test('hostile options are refused with a TypeError naming the option', () => {
    const o = objectPath('offcpu');
    for (const [opts, re] of [
      [{ pid: -1 }, /pid/],
      [{ pid: 1.5 }, /pid/],
      [{ minBlockNs: 0 }, /minBlockNs/],
      [{ minBlockNs: 4e12 }, /minBlockNs/],
      [{ maxTasks: 1 }, /maxTasks/],
      [{ maxStacks: 2 ** 21 }, /maxStacks/],
      [{ kernelStacks: 'yes' }, /kernelStacks/],
      [{ wallClockHz: 1001 }, /wallClockHz/],
      [{ comm: 'x'.repeat(16) }, /comm/],
      [{ extra: 1 }, /unknown option/],
    ] as const) {
      assert.throws(() => new OffCpuTracer({ objectPath: o, ...(opts as object) } as never), (e: Error) => e instanceof TypeError && re.test(e.message), JSON.stringify(opts));
    }
    assert.throws(() => new OffCpuTracer(undefined as never), TypeError);
    assert.throws(() => new OffCpuTracer({ objectPath: '/nonexistent.bpf.o' }), /open \/nonexistent.bpf.o/);
  });

  test('layout: a 48-byte key, a 16-byte value, a 56-byte start', () => {
    const l = layouts().offcpu;
    assert.deepEqual([l.keySize, l.valueSize, l.startSize, l.tgidOffset, l.commOffset], [48, 16, 56, 16, 24]);
    assert.equal(l.OFFCPU_DEFAULT_MIN_BLOCK_NS, 1000);
  });
});
