import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDir } from '@tracefleet/bpf';

import { MemleakTracer, Symbolizer, functionOffsets, layouts, type MemleakSnapshot } from './index';
import {
  K,
  LEAKY_SOURCE,
  LEAK_SIZES,
  S,
  BIG_SOURCE,
  allocationSizes,
  bySite,
  leakSummary,
  memleakObject,
  traceLeaky,
  untracedChurnNs,
  type LeakSite,
  type LeakyRun,
} from './memleak-spec-support';
import { compileC, ensureTracefs, sleep, tempDir } from './spec-support';
import { Target, ownBpfFds } from './usdt-spec-support';

const N = 200_000;
const TRACEFS_EVENTS = '/sys/kernel/tracing/events';
/** Allocation calls between go and "leaked": churn(N), K from each leaking function (realloc_leak makes 3), churn(1000). */
const ALLOCS = N + 1000 + K * (1 + 1 + 3 + 1 + 1);
/** Frees: every churn pair, and realloc_leak's two reallocs each free the block before. */
const FREES = N + 1000 + 2 * K;
const LEAKS = 5 * K;

const links = (fds: Map<string, number>): number =>
  (fds.get('anon_inode:bpf_link') ?? 0) + (fds.get('anon_inode:bpf-link') ?? 0) + (fds.get('anon_inode:[perf_event]') ?? 0);
const liveCount = (s: MemleakSnapshot): number => s.stacks.reduce((sum, g) => sum + g.count, 0);
const perPairUs = (ns: number): string => (ns / N / 1000).toFixed(2);

/** The same header the BPF program was built from. */
test('memleak_alloc and the counter indices match memleak.h', () => {
  const header = fs.readFileSync(path.join(buildDir, '..', 'src', 'memleak', 'memleak.h'), 'utf8');
  const defines = new Map<string, number>();
  for (const [, name, value] of header.matchAll(/^#define\s+(MEMLEAK_\w+)\s+(\d+)/gm)) defines.set(name, Number(value));
  const layout = layouts().memleak;
  for (const [name, value] of defines) assert.equal(layout[name as keyof typeof layout], value, name);
  assert.ok(defines.size >= 12, `only ${defines.size} MEMLEAK_ constants found in memleak.h`);
  const body = header.match(/struct memleak_alloc \{([^}]*)\};/)?.[1];
  assert.ok(body, 'struct memleak_alloc not found in memleak.h');
  const widths: Record<string, number> = { __u32: 4, __s32: 4, __u64: 8, __s64: 8 };
  let offset = 0;
  const offsets: Record<string, number> = {};
  for (const [, type, field] of body.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/(\w+)\s+(\w+)\s*;/g)) {
    const width = widths[type];
    assert.ok(width, `memleak_alloc.${field} has type ${type}, which is not fixed-width`);
    offset = Math.ceil(offset / width) * width;
    offsets[field] = offset;
    offset += width;
  }
  assert.deepEqual(layout.offsets, offsets);
  assert.equal(layout.size, Math.ceil(offset / 8) * 8);
});

describe('MemleakTracer in user mode on a C program with known leaks', () => {
  const dir = tempDir('memleak');
  let leaky = '';
  let libc = '';
  let baseline: LeakyRun | undefined;

  before(() => {
    leaky = compileC(dir, 'leaky', LEAKY_SOURCE, ['-O1', '-g', '-fno-omit-frame-pointer']);
    const ldd = execFileSync('ldd', [leaky], { encoding: 'utf8' });
    libc = ldd.match(/libc\.so\.6 => (\S+)/)?.[1] ?? '';
    assert.ok(libc && fs.existsSync(libc), `ldd found no libc.so.6 for ${leaky}: ${ldd}`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Every exact figure the program's run must give, whatever the free probe's site. */
  function checkExactRun(run: LeakyRun): void {
    const { snapshot, sites } = run;
    const c = snapshot.counters;
    assert.equal(c.allocsSeen, BigInt(ALLOCS), 'allocation calls seen');
    assert.equal(c.allocsTraced, BigInt(ALLOCS), 'sampleEvery defaults to 1: all traced');
    assert.equal(c.frees, BigInt(FREES));
    assert.equal(c.freesMatched, BigInt(FREES), 'every free of a traced block found it');
    assert.equal(c.untracked, 0n);
    assert.equal(c.stackErrors, 0n);
    assert.equal(liveCount(snapshot), LEAKS, 'outstanding allocations');

    for (const [site, size] of Object.entries(LEAK_SIZES) as Array<[LeakSite, number]>) {
      const totals = sites.get(site);
      assert.ok(totals, `no outstanding allocation from ${site}; sites: ${[...sites.keys()].join(', ')}`);
      assert.equal(totals.count, K, `${site}: allocations`);
      assert.equal(totals.bytes, BigInt(K * size), `${site}: bytes`);
      assert.equal(totals.groups, 1, `${site}: one stack`);
    }
    assert.deepEqual(sites.get('leak_here')!.frames.slice(0, 3), ['leak_here', 'serve', 'main']);
    for (const [site, totals] of sites) {
      if (site in LEAK_SIZES) continue;
      assert.equal(site, 'churn', `outstanding allocations from ${site}: ${totals.frames.join(' < ')}`);
      assert.ok(totals.count <= 2, `churn has ${totals.count} allocations outstanding`);
    }
    // The snapshot after stop() reads the same maps.
    assert.deepEqual(
      run.afterStop.stacks.map((g) => [g.stackId, g.bytes, g.count]),
      snapshot.stacks.map((g) => [g.stackId, g.bytes, g.count]),
    );
    assert.equal(run.afterStop.attached.length, snapshot.attached.length);
    assert.equal(run.minuteOld.stacks.length, 0, 'snapshot(60 s) counted allocations younger than that');
    for (const g of snapshot.stacks) {
      assert.ok(g.oldestNs > 0n && g.oldestNs <= snapshot.nowNs, `stack ${g.stackId}: oldestNs ${g.oldestNs} after nowNs ${snapshot.nowNs}`);
      assert.equal(g.kernelStack.length, 0);
    }
  }

  test('each leak lands on its own stack with its exact size; the churn leaves nothing; fds all go', async () => {
    const fdsBefore = ownBpfFds();
    const run = await traceLeaky(leaky, dir, N, {});
    assert.deepEqual(ownBpfFds(), fdsBefore, 'close() left BPF or perf fds open');
    checkExactRun(run);
    const attached = run.snapshot.attached;
    assert.ok(attached.some((a) => /^malloc in \/proc\/\d+\/root\/.*libc\.so\.6 @0x[0-9a-f]+ \(entry, return\)$/.test(a)), attached.join('\n'));
    assert.ok(attached.some((a) => /^free in .* \(entry\)$/.test(a)));
    // glibc gives aligned_alloc and memalign one body: probed once, and aligned_leak still found (above).
    console.log(`not probed: ${JSON.stringify(run.snapshot.skipped)}`);
    console.log(
      `free at +0: ${JSON.stringify(leakSummary(run), (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}; ` +
        `counters ${JSON.stringify(run.snapshot.counters, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}; ` +
        `churn ${perPairUs(run.churnNs)} µs per malloc/free pair`,
    );
    baseline = run;
  });

  test('stacks that share a bucket of the stack map are kept in the overflow map: no stack is lost', async () => {
    // One bucket: every stack after the first collides, as distinct stacks do at scale in 16384 buckets.
    const run = await traceLeaky(leaky, dir, N, { stackMapEntries: 1 });
    checkExactRun(run);
    const ids = run.snapshot.stacks.map((g) => g.stackId);
    console.log(`stackMapEntries=1: stack ids ${ids.join(', ')}`);
    assert.ok(ids.filter((id) => id >= layouts().memleak.MEMLEAK_OVERFLOW_ID_BASE).length >= 4, `expected the leak sites in the overflow map, got ids ${ids.join(', ')}`);
    assert.deepEqual(leakSummary(run), leakSummary(baseline ?? (await traceLeaky(leaky, dir, N, {}))));
  });

  test('with free probed at +3 (the je after test %rdi,%rdi) the result is the same', async () => {
    const symbols = functionOffsets(libc, ['free', 'malloc']);
    assert.ok(symbols.free !== undefined, `no free in ${libc}`);
    const bytes = Buffer.alloc(5);
    const fd = fs.openSync(libc, 'r');
    try {
      fs.readSync(fd, bytes, 0, 5, Number(symbols.free));
    } finally {
      fs.closeSync(fd);
    }
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    // test %rdi,%rdi is 48 85 ff; je is 74 rel8 or 0f 84 rel32 (this Debian 12 glibc has the long form). The
    // kernel emulates a je, and %rdi still holds the pointer there.
    assert.ok(
      hex.startsWith('48 85 ff 74') || hex.startsWith('48 85 ff 0f 84'),
      `${libc}: free starts with ${hex}, not test %rdi,%rdi; je (48 85 ff 74 / 48 85 ff 0f 84): the +3 site would be wrong here`,
    );
    const cheap = await traceLeaky(leaky, dir, N, { libc, entryOffsets: { free: symbols.free + 3n } });
    checkExactRun(cheap);
    const freeSite = cheap.snapshot.attached.find((a) => a.startsWith('free in '));
    assert.equal(freeSite, `free in ${libc} @0x${(symbols.free + 3n).toString(16)} (entry; symbol @0x${symbols.free.toString(16)})`);

    const reference = baseline ?? (await traceLeaky(leaky, dir, N, {}));
    assert.deepEqual(leakSummary(cheap), leakSummary(reference));
    assert.deepEqual(cheap.snapshot.counters, reference.snapshot.counters);
    const untraced = await untracedChurnNs(leaky, dir, N);
    console.log(
      `per malloc/free pair: untraced ${(untraced / N).toFixed(0)} ns, free at +0 ${perPairUs(reference.churnNs)} µs, ` +
        `free at +3 ${perPairUs(cheap.churnNs)} µs`,
    );
  });

  test('malloc probed on its ret sites only (no entry probe): the same counts, leak_here at glibc\'s usable size', async () => {
    // malloc's ret instructions, from nm and objdump (libc's code is mapped at its file offsets).
    const sym = /^([0-9a-f]+) ([0-9a-f]+) T malloc@@/m.exec(execFileSync('nm', ['-D', '-S', libc], { encoding: 'utf8' }));
    assert.ok(sym, `no malloc in nm -D -S ${libc}`);
    const [start, size] = [BigInt(`0x${sym[1]}`), BigInt(`0x${sym[2]}`)];
    assert.equal(functionOffsets(libc, ['malloc']).malloc, start, 'malloc is at its file offset');
    const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', `--start-address=0x${start.toString(16)}`, `--stop-address=0x${(start + size).toString(16)}`, libc], { encoding: 'utf8' });
    const rets = [...dis.matchAll(/^\s*([0-9a-f]+):\s+ret\b/gm)].map((m) => BigInt(`0x${m[1]}`));
    assert.ok(rets.length >= 1, dis.slice(0, 2000));
    const run = await traceLeaky(leaky, dir, N, { libc, mallocReturns: rets });
    const c = run.snapshot.counters;
    assert.equal(c.allocsSeen, BigInt(ALLOCS));
    assert.equal(c.freesMatched, BigInt(FREES), 'every free found its block: malloc recorded the pointer it returned');
    assert.equal(c.untracked, 0n);
    assert.equal(liveCount(run.snapshot), LEAKS);
    const usable = (n: number): bigint => BigInt(Math.max(32, (n + 8 + 15) & ~15) - 8);
    const summary = leakSummary(run);
    assert.deepEqual(summary.leak_here, { bytes: BigInt(K) * usable(S), count: K }, 'malloc(S): the usable size of its chunk');
    // The other functions keep their entry probes: exact sizes.
    assert.deepEqual(summary.calloc_leak, { bytes: BigInt(K * 800), count: K });
    assert.deepEqual(summary.realloc_leak, { bytes: BigInt(K * 3000), count: K });
    assert.match(run.snapshot.attached.find((a) => a.startsWith('malloc in ')) ?? '', /\(returns only, size from the chunk header: @0x/);
    const reference = baseline ?? (await traceLeaky(leaky, dir, N, {}));
    console.log(`per malloc/free pair: entry + uretprobe ${perPairUs(reference.churnNs)} µs, ret sites only ${perPairUs(run.churnNs)} µs (${rets.length} ret sites)`);
  });

  test('mallocReturns: hostile values are refused, naming the option', () => {
    const make = (mallocReturns: unknown, mode: 'user' | 'kernel' = 'user') => () =>
      new MemleakTracer({ objectPath: memleakObject(), mode, ...(mode === 'user' ? { pid: process.pid, libc } : {}), mallocReturns } as never);
    assert.throws(make([]), /option mallocReturns must hold 1 to 64 offsets/);
    assert.throws(make(Array.from({ length: 65 }, () => 1n)), /option mallocReturns must hold 1 to 64 offsets/);
    assert.throws(make('0x10'), /option mallocReturns must be an array/);
    assert.throws(make([-1n]), /mallocReturns\[0\]/);
    assert.throws(make([1n], 'kernel'), /option mallocReturns is for mode 'user' only/);
    const inside = (mallocInside: unknown) => () => new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: process.pid, libc, mallocInside } as never);
    assert.throws(inside([1n]), /option mallocInside needs option unwinder/);
    assert.throws(inside([]), /option mallocInside must hold 1 to 64 offsets/);
    assert.throws(inside([-1n]), /mallocInside\[0\]/);
  });

  test('sampleEvery=64 traces 1 in 64 allocations and keeps 1 or 2 of the 100 leak_here leaks', async () => {
    const run = await traceLeaky(leaky, dir, N, { sampleEvery: 64 });
    const c = run.snapshot.counters;
    assert.equal(c.allocsSeen, BigInt(ALLOCS));
    // The target runs on CPU 0 only, so one per-CPU counter sees its calls in order: exactly every 64th.
    // (Spread over C CPUs the count would lie in (seen/64 - C, seen/64].)
    assert.equal(c.allocsTraced, BigInt(Math.floor(ALLOCS / 64)));
    assert.equal(c.frees, BigInt(FREES), 'frees are always looked up');
    // Every traced allocation is either still live, freed (matched once), or refused by a full map.
    assert.equal(c.allocsTraced, c.untracked + c.freesMatched + BigInt(liveCount(run.snapshot)));
    // 100 consecutive calls on one counter hold floor(100/64) or ceil(100/64) multiples of 64.
    const leaks = run.sites.get('leak_here');
    assert.ok(leaks && leaks.count >= 1 && leaks.count <= 2, `leak_here kept ${leaks?.count} of ${K} (expected 1 or 2)`);
    assert.equal(leaks.bytes, BigInt(leaks.count * S));
    assert.ok((run.sites.get('churn')?.count ?? 0) <= 1);
    console.log(`sampleEvery=64: traced ${c.allocsTraced} of ${c.allocsSeen}, leak_here ${leaks.count} × ${S} B, frees matched ${c.freesMatched}`);
  });

  test('sampleBytes=4096 picks one allocation per 4096 bytes on a CPU, so every 4096-byte leak', async () => {
    const sampleBytes = 4096;
    const run = await traceLeaky(leaky, dir, N, { sampleBytes });
    const c = run.snapshot.counters;
    // Replay the program's sizes through one byte clock (the target runs on CPU 0 only).
    let clock = 0;
    let picked = 0;
    for (const size of allocationSizes(N)) {
      if (Math.floor(clock / sampleBytes) !== Math.floor((clock + size) / sampleBytes)) picked++;
      clock += size;
    }
    assert.equal(c.allocsSeen, BigInt(ALLOCS));
    assert.equal(c.allocsTraced, BigInt(picked));
    assert.deepEqual(leakSummary(run).leak_here, { bytes: BigInt(K * S), count: K }, 'an allocation of sampleBytes or more is always picked');
    assert.equal(c.allocsTraced, c.untracked + c.freesMatched + BigInt(liveCount(run.snapshot)));
    console.log(`sampleBytes=${sampleBytes}: traced ${c.allocsTraced} of ${c.allocsSeen} (${clock} bytes asked); ${JSON.stringify(leakSummary(run), (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
  });

  test('a big malloc served by mmap counts once, at its caller; an arena reservation does not count', async () => {
    const big = compileC(dir, 'big', BIG_SOURCE, ['-O1', '-g', '-fno-omit-frame-pointer', '-pthread']);
    const go = path.join(dir, 'big-go');
    const target = new Target(big, [go, `${go}-finish`]);
    const symbolizer = new Symbolizer();
    try {
      await target.waitFor('ready');
      const tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: target.pid });
      let sites: ReturnType<typeof bySite>;
      let snapshot: MemleakSnapshot;
      try {
        tracer.start();
        fs.writeFileSync(go, '');
        await target.waitFor('leaked');
        snapshot = tracer.snapshot();
        sites = bySite(snapshot, target.pid, symbolizer);
      } finally {
        tracer.close();
      }
      fs.writeFileSync(`${go}-finish`, '');
      assert.equal(await target.exited, 0);
      const MiB = 1n << 20n;
      assert.deepEqual(
        { bytes: sites.get('big_leak')?.bytes, count: sites.get('big_leak')?.count },
        { bytes: 3n * MiB, count: 3 },
        `big_leak; sites: ${[...sites].map(([k, v]) => `${k} ${v.bytes} B × ${v.count}`).join(', ')}`,
      );
      assert.deepEqual(sites.get('big_leak')!.frames.slice(0, 2), ['big_leak', 'main']);
      assert.equal(sites.get('thread_leak')?.bytes, 1000n);
      assert.deepEqual(sites.get('thread_leak')!.frames.slice(0, 3), ['thread_leak', 'worker', 'start_thread']);
      assert.equal(sites.get('big_churn'), undefined, 'freed big blocks still outstanding');
      const total = snapshot.stacks.reduce((sum, g) => sum + g.bytes, 0n);
      // What else may stay: glibc's own small allocations for the thread (its TLS vector and the like).
      assert.ok(total < 3n * MiB + 64n * 1024n, `${total} bytes outstanding: an mmap inside malloc or an arena reservation was counted`);
    } finally {
      symbolizer.close();
      target.kill();
    }
  });

  test('maxAllocs=50 with 500 leaks: the map fills, the rest is counted as untracked', async () => {
    const run = await traceLeaky(leaky, dir, N, { maxAllocs: 50 });
    const c = run.snapshot.counters;
    const live = liveCount(run.snapshot);
    assert.ok(c.untracked > 0n, 'untracked should count the refused inserts');
    assert.ok(live <= 50, `${live} live allocations in a map of 50`);
    assert.equal(run.sites.get('leak_here')?.count, 50, 'the first 50 leaks fill the (then empty) map');
    assert.equal(c.allocsTraced, c.untracked + c.freesMatched + BigInt(live));
    console.log(`maxAllocs=50: ${live} live, untracked ${c.untracked}, traced ${c.allocsTraced}`);
  });

  test('functions the library lacks are skipped and listed; malloc and free are required', async () => {
    const mini = path.join(dir, 'libmini.so');
    const src = path.join(dir, 'mini.c');
    fs.writeFileSync(
      src,
      '#include <stddef.h>\n' +
        'void *malloc(size_t n) { return n ? (void *)16 : 0; }\n' +
        'void free(void *p) { (void)p; }\n' +
        'void *mmap(void *a, size_t l, int p, int f, int fd, long o) { (void)a; (void)l; (void)p; (void)f; (void)fd; (void)o; return (void *)-1; }\n',
    );
    execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-o', mini, src]);
    const fdsBefore = ownBpfFds();
    const tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: process.pid, libc: mini });
    try {
      tracer.start();
      const { attached, skipped } = tracer.snapshot();
      assert.deepEqual(
        attached.map((a) => a.split(' ')[0]),
        ['malloc', 'mmap', 'free'],
      );
      assert.deepEqual(
        skipped.map((s) => s.split(':')[0]),
        ['calloc', 'realloc', 'reallocarray', 'posix_memalign', 'memalign', 'aligned_alloc', 'valloc', 'pvalloc', 'munmap'],
      );
      assert.ok(skipped.every((s) => s.includes(`in ${mini}`)), skipped.join('\n'));
    } finally {
      tracer.close();
    }
    tracer.close();
    assert.throws(() => tracer.snapshot(), /MemleakTracer\.snapshot\(\): the tracer is closed/);
    assert.deepEqual(ownBpfFds(), fdsBefore);
    assert.throws(
      () => new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: process.pid, libc: leaky }),
      (err: unknown) => err instanceof Error && err.message.includes(`no function malloc in ${leaky}: not a C library to trace`),
    );
  });

  test('an attach failure names the function and the file, and leaves nothing attached', async () => {
    const target = new Target(leaky, [path.join(dir, 'never'), path.join(dir, 'never'), '1']);
    try {
      await target.waitFor('ready');
      const tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: target.pid, libc, entryOffsets: { free: 1n << 40n } });
      const loaded = ownBpfFds();
      try {
        assert.throws(
          () => tracer.start(),
          (err: unknown) =>
            err instanceof Error && err.message.startsWith(`MemleakTracer.start(): attach uprobe free in ${libc} @0x10000000000 for pid ${target.pid}: `),
        );
        assert.equal(links(ownBpfFds()), links(loaded), 'the probes attached before the failure stayed attached');
        assert.deepEqual(tracer.snapshot().attached, []);
      } finally {
        tracer.close();
      }
    } finally {
      target.kill();
    }
  });

  test('stacks no live allocation uses for two snapshots leave the stack map; live ones stay', async () => {
    const go = path.join(dir, `go-trim-${Date.now()}`);
    const finish = `${go}-finish`;
    const target = new Target(leaky, [go, finish, String(N)]);
    let tracer: MemleakTracer | undefined;
    try {
      await target.waitFor('ready');
      tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: target.pid });
      tracer.start();
      fs.writeFileSync(go, '');
      await target.waitFor('leaked', 120_000);
      const first = tracer.snapshot();
      const second = tracer.snapshot();
      const third = tracer.snapshot();
      // Freed allocations (the churn, realloc's first block) left stacks behind at first...
      assert.ok(first.stackMapEntries > first.stacks.length, `${first.stackMapEntries} entries, ${first.stacks.length} live stacks`);
      // ...and once two snapshots in a row found no live allocation on them, only live stacks remain, all still readable.
      assert.equal(second.stackMapEntries, second.stacks.length);
      assert.equal(third.stackMapEntries, third.stacks.length);
      assert.deepEqual(third.stacks.map((g) => [g.stackId, g.bytes]), first.stacks.map((g) => [g.stackId, g.bytes]));
      for (const g of third.stacks) assert.ok(g.userStack.length > 0, `stack ${g.stackId} lost its frames`);
      fs.writeFileSync(finish, '');
      assert.equal(await target.exited, 0);
    } finally {
      tracer?.close();
      target.kill();
    }
  });

  test('bad options are TypeErrors naming the option', () => {
    const base = { objectPath: memleakObject(), mode: 'user' as const, pid: process.pid };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...base, pid: undefined }, /option pid must be an integer/],
      [{ ...base, mode: 'both' }, /option mode must be 'user' or 'kernel'/],
      [{ objectPath: memleakObject(), mode: 'kernel', pid: 1 }, /option pid is for mode 'user' only/],
      [{ ...base, sampleEvery: 64, sampleBytes: 4096 }, /sampleEvery and sampleBytes exclude each other/],
      [{ ...base, sampleEvery: 0 }, /option sampleEvery must be an integer in 1\.\./],
      [{ ...base, stackDepth: 128 }, /option stackDepth must be an integer in 1\.\.127/],
      [{ ...base, entryOffsets: { frees: 3n } }, /option entryOffsets\.frees: not a probed function/],
      [{ ...base, entryOffsets: { free: 3 } }, /option entryOffsets\.free must be a bigint/],
      [{ ...base, maxAlloc: 5 }, /unknown option maxAlloc/],
    ];
    for (const [opts, message] of cases) {
      assert.throws(
        () => new MemleakTracer(opts as never),
        (err: unknown) => err instanceof TypeError && message.test(err.message) && err.message.includes('Usage: new MemleakTracer('),
        JSON.stringify(opts, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      );
    }
  });
});

describe('MemleakTracer in kernel mode', () => {
  before(() => {
    ensureTracefs();
    assert.ok(fs.existsSync(TRACEFS_EVENTS), `${TRACEFS_EVENTS} is missing: kernel mode needs tracefs mounted`);
  });

  test('a tracepoint the kernel lacks is listed as skipped, and the others still attach', () => {
    // The kernel here has all eight, so the test shows the tracer a tracefs without the percpu ones: in a
    // private mount namespace, a directory holding only the kmem events' id files is bound over
    // /sys/kernel/tracing (libbpf reads the ids from there; the kernel attaches by id as usual).
    const script = `
      const { MemleakTracer } = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
      const t = new MemleakTracer({ objectPath: ${JSON.stringify(memleakObject())}, mode: 'kernel' });
      t.start();
      require('node:fs').readFileSync('/proc/self/status');
      const s = t.snapshot();
      t.close();
      console.log(JSON.stringify({ attached: s.attached, skipped: s.skipped, seen: Number(s.counters.allocsSeen) }));
    `;
    const kmem = ['kmalloc', 'kfree', 'kmem_cache_alloc', 'kmem_cache_free', 'mm_page_alloc', 'mm_page_free'];
    const shell = [
      'set -e',
      'fake=$(mktemp -d)',
      ...kmem.map((tp) => `mkdir -p $fake/events/kmem/${tp} && cp ${TRACEFS_EVENTS}/kmem/${tp}/id $fake/events/kmem/${tp}/id`),
      'mount --bind $fake /sys/kernel/tracing',
      'set +e',
      `${JSON.stringify(process.execPath)} -e "$0"`,
      'status=$?',
      'umount /sys/kernel/tracing; rm -rf $fake',
      'exit $status',
    ].join('\n');
    let out: string;
    try {
      out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', shell, script], { encoding: 'utf8' });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      assert.fail(e.code === 'ENOENT' ? 'unshare is missing: install util-linux' : `the namespaced run failed: ${e.message}`);
    }
    const result = JSON.parse(out.trim().split('\n').pop()!) as { attached: string[]; skipped: string[]; seen: number };
    assert.deepEqual(result.attached, kmem.map((tp) => `tracepoint kmem/${tp}`));
    assert.deepEqual(result.skipped, [
      'tracepoint percpu/percpu_alloc_percpu: not on this kernel (no /sys/kernel/tracing/events/percpu/percpu_alloc_percpu)',
      'tracepoint percpu/percpu_free_percpu: not on this kernel (no /sys/kernel/tracing/events/percpu/percpu_free_percpu)',
    ]);
    assert.ok(result.seen > 0, 'the attached tracepoints saw no allocation');
  });

  test('sees kernel allocations with kernel stacks while the test reads files and opens sockets', async () => {
    const fdsBefore = ownBpfFds();
    const tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'kernel' });
    const symbolizer = new Symbolizer();
    let snapshot: MemleakSnapshot;
    try {
      tracer.start();
      const end = Date.now() + 2000;
      let rounds = 0;
      while (Date.now() < end) {
        fs.readFileSync('/proc/self/status');
        fs.readdirSync(os.tmpdir());
        const server = net.createServer();
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const { port } = server.address() as net.AddressInfo;
        const client = net.connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
        client.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        rounds++;
        await sleep(5);
      }
      tracer.stop();
      snapshot = tracer.snapshot();
      console.log(`kernel mode: ${rounds} rounds of files and sockets`);
    } finally {
      tracer.close();
    }
    assert.deepEqual(ownBpfFds(), fdsBefore, 'close() left BPF or perf fds open');

    // Tracepoints this kernel lacks are listed, not fatal: exactly those without an events directory.
    const wanted = ['kmem/kmalloc', 'kmem/kfree', 'kmem/kmem_cache_alloc', 'kmem/kmem_cache_free', 'kmem/mm_page_alloc', 'kmem/mm_page_free', 'percpu/percpu_alloc_percpu', 'percpu/percpu_free_percpu'];
    const present = wanted.filter((tp) => fs.existsSync(path.join(TRACEFS_EVENTS, tp)));
    assert.deepEqual(snapshot.attached, present.map((tp) => `tracepoint ${tp}`));
    assert.deepEqual(snapshot.skipped.map((s) => s.split(':')[0]), wanted.filter((tp) => !present.includes(tp)).map((tp) => `tracepoint ${tp}`));

    const c = snapshot.counters;
    assert.ok(c.allocsSeen > 0n && c.freesMatched > 0n, `allocations seen ${c.allocsSeen}, frees matched ${c.freesMatched}`);
    assert.ok(snapshot.stacks.length > 0, 'no outstanding kernel allocation at all');
    const withStacks = snapshot.stacks.filter((g) => g.kernelStack.length > 0);
    assert.ok(withStacks.length > 0, 'no stack has kernel frames');
    const KERNEL_START = 0xffff800000000000n;
    for (const g of withStacks) {
      assert.equal(g.userStack.length, 0);
      assert.ok(g.kernelStack.every((a) => a >= KERNEL_START), `stack ${g.stackId} has a frame below the kernel range`);
    }
    // Resolved through /proc/kallsyms by the Symbolizer: named, not a bare [kernel]+0x... address.
    const top = withStacks[0];
    const names = symbolizer.symbolizeKernel(top.kernelStack);
    symbolizer.close();
    assert.ok(names.some((n) => !n.startsWith('[kernel]+')), `no frame of stack ${top.stackId} resolved: ${names.join(' < ')}`);
    console.log(
      `kernel mode: ${snapshot.stacks.length} stacks, ${liveCount(snapshot)} live allocations; counters ` +
        `${JSON.stringify(c, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}; top ${top.bytes} B × ${top.count}: ${names.slice(0, 4).join(' < ')}`,
    );
  });
});
