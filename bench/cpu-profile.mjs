// CPU profile: overhead on a CPU-bound workload, fidelity against bpftrace, time from a
// run's end to its flame graph, and the agent's memory during a 30 s whole-host profile.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORK, gcc, machine, median, publish, root, run, sleep, startBpftrace, startJob, waitJob } from './lib.mjs';

const HZ = 99;
const COMM = 'cpu_bound';

function startWorkload(bin, seconds) {
  const r = run(bin, [String(seconds)]);
  return { pid: r.child.pid, done: r.done.then((out) => Number(out.trim().split(' ')[0])) };
}

const bpftraceProfile = (seconds) =>
  startBpftrace(`profile:hz:${HZ} /comm == "${COMM}"/ { @samples = count(); } interval:s:${seconds} { exit(); }`);
const bpftraceCount = (r) => r.done.then((out) => Number(/@samples:\s*(\d+)/.exec(out)?.[1] ?? NaN));

function procStat(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { hwmKb: Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]), cpuTicks: Number(f[11]) + Number(f[12]) };
}

export async function cpuProfileBench(stack) {
  const bin = gcc(join(root, 'bench/workloads/cpu_bound.c'), join(WORK, COMM));
  const results = { date: new Date().toISOString(), machine: machine() };

  // 1. Overhead: work units per second, alternating plain / ours / bpftrace; the profiler samples
  //    before the workload starts so it covers all of it.
  const SECS = 8;
  const plain = [];
  const profiled = [];
  const bpftraced = [];
  for (let round = 0; round < 3; round++) {
    plain.push((await startWorkload(bin, SECS).done) / SECS);
    const id = await startJob(stack, { type: 'cpu-profile', durationSec: SECS + 3, frequencyHz: HZ, target: { comm: COMM } });
    profiled.push((await startWorkload(bin, SECS).done) / SECS);
    await waitJob(stack, id, 60_000);
    const bt = await bpftraceProfile(SECS + 3);
    bpftraced.push((await startWorkload(bin, SECS).done) / SECS);
    await bt.done;
  }
  results.overhead = {
    workload: 'bench/workloads/cpu_bound.c, one thread, work units per second, median of 3',
    plainUnitsPerSec: median(plain),
    profiledUnitsPerSec: median(profiled),
    bpftraceUnitsPerSec: median(bpftraced),
    slowdownPercent: (1 - median(profiled) / median(plain)) * 100,
    bpftraceSlowdownPercent: (1 - median(bpftraced) / median(plain)) * 100,
    runs: { plain, profiled, bpftraced },
  };

  // 2. Fidelity: ours and bpftrace sampling the same process at once; both attach before it starts.
  const FID = 10;
  const id = await startJob(stack, { type: 'cpu-profile', durationSec: FID + 3, frequencyHz: HZ, target: { comm: COMM } });
  const bt = await bpftraceProfile(FID + 3);
  await startWorkload(bin, FID).done;
  const job = await waitJob(stack, id, 60_000);
  const btSamples = await bpftraceCount(bt);
  results.fidelity = {
    windowSec: FID,
    expected: HZ * FID,
    oursStored: job.totals.samplesStored,
    oursTaken: job.totals.samplesTaken,
    bpftrace: btSamples,
    oursOverBpftrace: job.totals.samplesStored / btSamples,
    droppedKernel: job.totals.samplesDroppedKernel,
    lostTransit: job.totals.samplesLostTransit,
  };

  // 3 + 4. A 30 s whole-host profile with both CPUs busy: agent peak RSS and CPU, and the time
  //        from the run's end to a served flame graph.
  const agentPid = stack.agent.pid;
  const before = procStat(agentPid);
  const loads = [startWorkload(bin, 33), startWorkload(bin, 33)];
  const wholeId = await startJob(stack, { type: 'cpu-profile', durationSec: 30, frequencyHz: HZ, target: { all: true } });
  let whole;
  for (;;) {
    whole = (await stack.api('GET', `/jobs/${wholeId}`)).json;
    if (['completed', 'partial', 'failed'].includes(whole.status)) break;
    await sleep(20);
  }
  const svg = await stack.api('GET', `/jobs/${wholeId}/flamegraph.svg`);
  const servedAt = Date.now();
  const after = procStat(agentPid);
  await Promise.all(loads.map((l) => l.done));
  const runEnd = new Date(whole.runs[0].startedAt).getTime() + 30_000;
  results.wholeHost = {
    durationSec: 30,
    samplesStored: whole.totals.samplesStored,
    samplesTaken: whole.totals.samplesTaken,
    agentPeakRssKbBefore: before.hwmKb,
    agentPeakRssKbAfter: after.hwmKb,
    agentCpuPercentOfOneCpu: ((after.cpuTicks - before.cpuTicks) / 100 / 30) * 100,
    stopToFlamegraphMs: servedAt - runEnd,
    svgBytes: svg.text.length,
  };

  const o = results.overhead;
  const f = results.fidelity;
  const h = results.wholeHost;
  publish(
    'cpu-profile',
    results,
    `## CPU profile (99 Hz)

Run ${results.date} on ${results.machine.cpus} CPUs, kernel ${results.machine.kernel}; raw figures in bench/results/cpu-profile.json.

| measure | figure |
|---|---|
| Workload slowdown under a Tracefleet profile (work units/s vs the same workload unprofiled, median of 3) | ${o.slowdownPercent.toFixed(2)} % |
| Workload slowdown under bpftrace \`profile:hz:99\`, same run | ${o.bpftraceSlowdownPercent.toFixed(2)} % |
| Samples of one busy thread over ${f.windowSec} s: Tracefleet stored / bpftrace counted (expected ${f.expected}) | ${f.oursStored} / ${f.bpftrace} (ratio ${f.oursOverBpftrace.toFixed(3)}) |
| Dropped in the kernel / lost in transit (fidelity run) | ${f.droppedKernel} / ${f.lostTransit} |
| Run end → flame graph served (30 s whole-host profile, ${h.samplesStored} samples) | ${h.stopToFlamegraphMs} ms |
| Agent peak RSS before → after the whole-host profile | ${(h.agentPeakRssKbBefore / 1024).toFixed(1)} → ${(h.agentPeakRssKbAfter / 1024).toFixed(1)} MiB |
| Agent CPU during the whole-host profile (sampling, symbolizing, sending) | ${h.agentCpuPercentOfOneCpu.toFixed(1)} % of one CPU |`,
  );
}
