// memleak: slowdown of an allocation-heavy program with and without tracing — Tracefleet at
// full tracing (malloc at its entry and return, and at its ret sites only), Tracefleet sampling 1 in
// 64, and a bpftrace script doing the same accounting — all in the same run.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK, gcc, interrupt, machine, median, publish, trapCost, trapLine, root, run, startBpftrace, startJob, waitJob } from './lib.mjs';

const N = 500_000;
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

async function pairs(bin, attach) {
  const go = join(WORK, `malloc-free-${process.pid}.go`);
  rmSync(go, { force: true });
  const r = run(bin, [String(N), go]);
  const handle = attach ? await attach(r.child.pid) : undefined;
  writeFileSync(go, '');
  const ns = Number((await r.done).trim());
  rmSync(go, { force: true });
  return { ns, handle };
}

export async function memleakBench(stack) {
  const bin = gcc(join(root, 'bench/workloads/malloc_free.c'), join(WORK, 'malloc_free'));
  const results = { date: new Date().toISOString(), machine: machine(), traps: trapCost(), pairs: N };
  const plain = [];
  const full = [];
  const returns = [];
  const sampled = [];
  const bpftrace = [];
  for (let round = 0; round < 3; round++) {
    plain.push((await pairs(bin)).ns);
    const f = await pairs(bin, (pid) => startJob(stack, { type: 'memleak', durationSec: 120, intervalSec: 60, target: { pid } }));
    full.push(f.ns);
    await waitJob(stack, f.handle, 150_000);
    const r = await pairs(bin, (pid) => startJob(stack, { type: 'memleak', durationSec: 120, intervalSec: 60, mallocProbe: 'returns', target: { pid } }));
    returns.push(r.ns);
    const rj = await waitJob(stack, r.handle, 150_000);
    results.returnsSites = /malloc: a probe on each of its \d+ return sites \(([^)]*)\) and none/.exec(rj.runs[0].reason ?? '')?.[1] ?? rj.runs[0].reason;
    const s = await pairs(bin, (pid) => startJob(stack, { type: 'memleak', durationSec: 120, intervalSec: 60, sampleEvery: 64, target: { pid } }));
    sampled.push(s.ns);
    await waitJob(stack, s.handle, 150_000);
    const b = await pairs(bin, (pid) =>
      startBpftrace(
        `uprobe:${LIBC}:malloc /pid == ${pid}/ { @size[tid] = arg0; } ` +
          `uretprobe:${LIBC}:malloc /pid == ${pid} && @size[tid]/ { @allocs[retval] = @size[tid]; delete(@size[tid]); } ` +
          `uprobe:${LIBC}:free /pid == ${pid}/ { delete(@allocs[arg0]); }`,
      ),
    );
    bpftrace.push(b.ns);
    await interrupt(b.handle, 'bpftrace').catch(() => undefined);
  }
  const base = median(plain);
  results.nsPerPair = { plain, full, returns, sampled, bpftrace };
  results.slowdown = {
    tracefleetFull: median(full) / base,
    tracefleetReturnsOnly: median(returns) / base,
    tracefleetSampled64: median(sampled) / base,
    bpftrace: median(bpftrace) / base,
  };
  results.fullOverBpftraceCost = (median(full) - base) / (median(bpftrace) - base);
  results.returnsOverBpftraceCost = (median(returns) - base) / (median(bpftrace) - base);
  const x = results.slowdown;
  publish(
    'memleak',
    results,
    `## memleak (user mode)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/memleak.json. ${trapLine(results.traps)} ${N.toLocaleString('en-US')} malloc/free pairs, median of 3; slowdown = ns per pair traced / untraced.

| tracing | ns per pair | slowdown |
|---|---|---|
| none | ${base.toFixed(1)} | 1× |
| Tracefleet, every allocation (malloc: emulated entry probe + uretprobe, one breakpoint at its entry and the return through the kernel's uretprobe syscall, not a trap, on x86-64 from Linux 6.11; free: emulated entry probe. 2 traps and a syscall per pair) | ${median(full).toFixed(1)} | ${x.tracefleetFull.toFixed(1)}× |
| Tracefleet, every allocation, \`mallocProbe: "returns"\` (a probe on each of malloc's return sites, none at its entry; 2 traps per pair: ${results.returnsSites}) | ${median(returns).toFixed(1)} | ${x.tracefleetReturnsOnly.toFixed(1)}× |
| Tracefleet, 1 in 64 allocations | ${median(sampled).toFixed(1)} | ${x.tracefleetSampled64.toFixed(1)}× |
| bpftrace (uprobe + uretprobe malloc, uprobe free, same accounting) | ${median(bpftrace).toFixed(1)} | ${x.bpftrace.toFixed(1)}× |

Tracefleet's added cost per pair at full tracing is ${(results.fullOverBpftraceCost * 100).toFixed(0)} % of bpftrace's (${(results.returnsOverBpftraceCost * 100).toFixed(0)} % with malloc at its return sites only). This loop's mallocs take the tcache path, whose site is the emulated jump; a malloc through the arena path reaches a single-stepped ret.`,
  );
}
