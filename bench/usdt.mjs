// USDT: cost per probe hit on a tight loop with and without tracing (Tracefleet counting only,
// Tracefleet capturing every event with its arguments, bpftrace counting), and JVM GC pauses
// seen by the jvm-gc preset vs libbpf-tools javagc on the same JVM at the same time.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK, gcc, interrupt, machine, median, publish, trapCost, trapLine, root, run, sleep, startBpftrace, startJob, waitFor, waitJob } from './lib.mjs';

const N = 1_000_000;
const JAVA = '/usr/lib/jvm/java-17-openjdk-amd64/bin/java';

async function loop(bin, attach) {
  const go = join(WORK, `usdt-loop-${process.pid}.go`);
  rmSync(go, { force: true });
  const r = run(bin, [String(N), go]);
  const detach = attach ? await attach(r.child.pid) : undefined;
  writeFileSync(go, '');
  const nsPerIter = Number((await r.done).trim());
  rmSync(go, { force: true });
  return { nsPerIter, detach };
}

export async function usdtBench(stack) {
  const bin = gcc(join(root, 'bench/workloads/usdt_loop.c'), join(WORK, 'usdt_loop'));
  const results = { date: new Date().toISOString(), machine: machine(), traps: trapCost(), hits: N };
  const plain = [];
  const countOnly = [];
  const capture = [];
  const bpftrace = [];
  for (let round = 0; round < 3; round++) {
    plain.push((await loop(bin)).nsPerIter);

    let id;
    countOnly.push(
      (await loop(bin, async (pid) => (id = await startJob(stack, { type: 'usdt', durationSec: 30, target: { pid }, probes: ['tfbench:hit'], maxEvents: 0 })))).nsPerIter,
    );
    const job = await waitJob(stack, id, 60_000);
    results.countOnlyHitsCounted = (await stack.api('GET', `/jobs/${id}/usdt`)).json.probes[0]?.count;
    results.countOnlyStatus = job.status;

    let capId;
    capture.push(
      (await loop(bin, async (pid) => (capId = await startJob(stack, { type: 'usdt', durationSec: 30, target: { pid }, probes: ['tfbench:hit'], maxEvents: N })))).nsPerIter,
    );
    const capJob = await waitJob(stack, capId, 120_000);
    results.captureStored = capJob.totals.samplesStored;
    results.captureDroppedKernel = capJob.totals.samplesDroppedKernel;
    results.captureDroppedAgent = capJob.totals.samplesDroppedAgent;

    let bt;
    bpftrace.push(
      (
        await loop(bin, async (pid) => {
          bt = await startBpftrace(`usdt:${bin}:tfbench:hit /pid == ${pid}/ { @hits = count(); }`);
        })
      ).nsPerIter,
    );
    const btOut = await interrupt(bt, 'bpftrace');
    results.bpftraceHitsCounted = Number(/@hits:\s*(\d+)/.exec(btOut)?.[1]);
  }
  const base = median(plain);
  results.nsPerIteration = { plain, countOnly, capture, bpftrace };
  results.costPerHitNs = {
    tracefleetCountOnly: median(countOnly) - base,
    tracefleetCaptureAll: median(capture) - base,
    bpftraceCount: median(bpftrace) - base,
  };

  // JVM GC pauses: our jvm-gc preset and libbpf-tools javagc on the same JVM, same window.
  const K = 20;
  await run('/usr/lib/jvm/java-17-openjdk-amd64/bin/javac', ['-d', WORK, join(root, 'e2e/fixtures/GcLoop.java')]).done;
  const go = join(WORK, `gcloop-bench-${process.pid}.go`);
  rmSync(go, { force: true });
  const jvm = run(JAVA, ['-Xmx256m', '-cp', WORK, 'GcLoop', String(K), go]);
  jvm.done.catch(() => undefined); // killed on purpose below
  await waitFor(async () => jvm.output().includes('ready'), 30_000, 'the JVM');
  const javagc = run('javagc', ['-p', String(jvm.child.pid)]);
  await sleep(3000); // javagc attaches its USDT probes
  const gcId = await startJob(stack, { type: 'usdt', durationSec: 8, target: { pid: jvm.child.pid }, preset: 'jvm-gc' });
  writeFileSync(go, '');
  const gcJob = await waitJob(stack, gcId, 60_000);
  await interrupt(javagc, 'javagc').catch(() => undefined);
  jvm.child.kill('SIGKILL');
  const gcRes = (await stack.api('GET', `/jobs/${gcId}/usdt`)).json;
  const ours = gcRes.pairs.find((p) => p.label === 'gc');
  // javagc prints one line per GC: "TIME CPU PID GC TIME" with the pause in µs last.
  const javagcLines = javagc.output().split('\n').filter((l) => /^\d\d:\d\d:\d\d\s+\d+\s+\d+\s+\d+/.test(l.trim()));
  const javagcUs = javagcLines.map((l) => Number(l.trim().split(/\s+/).pop()));
  results.jvmGc = {
    systemGcCalls: K,
    status: gcJob.status,
    tracefleetPauses: ours?.count,
    tracefleetMeanUs: ours ? Number(ours.meanNs) / 1000 : null,
    javagcPauses: javagcUs.length,
    javagcMeanUs: javagcUs.length ? javagcUs.reduce((a, b) => a + b, 0) / javagcUs.length : null,
    javagcRaw: javagc.output().slice(0, 2000),
  };

  const c = results.costPerHitNs;
  const g = results.jvmGc;
  publish(
    'usdt',
    results,
    `## USDT probes

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/usdt.json. ${trapLine(results.traps)} Cost per hit = loop ns/iteration traced − untraced (median of 3 runs of ${N.toLocaleString('en-US')} hits).

| measure | figure |
|---|---|
| Untraced loop | ${base.toFixed(2)} ns/iteration |
| Tracefleet, counting only (maxEvents 0) | ${c.tracefleetCountOnly.toFixed(0)} ns per hit (counted ${results.countOnlyHitsCounted}) |
| bpftrace \`usdt:...:tfbench:hit { @ = count(); }\`, same loop | ${c.bpftraceCount.toFixed(0)} ns per hit (counted ${results.bpftraceHitsCounted}) |
| Tracefleet capturing every hit with its arguments | ${c.tracefleetCaptureAll.toFixed(0)} ns per hit (stored ${results.captureStored}, dropped in kernel ${results.captureDroppedKernel}, in agent ${results.captureDroppedAgent}) |
| JVM, ${g.systemGcCalls} × System.gc(): GC pauses seen by Tracefleet jvm-gc / libbpf-tools javagc | ${g.tracefleetPauses} / ${g.javagcPauses} |
| Mean pause, Tracefleet / javagc | ${g.tracefleetMeanUs?.toFixed(0)} µs / ${g.javagcMeanUs?.toFixed(0)} µs |`,
  );
}

