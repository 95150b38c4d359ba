// The BENCHMARKS.md section of the unwind suite, from bench/results/unwind.json's shape.
import { renderOverhead } from './unwind-overhead.mjs';

/** Windows and rounds of the suite (bench/unwind.mjs runs with them; the section names them). */
export const SHARE_SEC = 6;
export const WHOLE_SEC = 30;
/** Whole-host agent RSS target of issue 12 on this machine. */
export const RSS_TARGET_MIB = 150;

const pct = (x) => `${(x * 100).toFixed(1)} %`;
const sp = (x) => `${x >= 0 ? '' : '−'}${Math.abs(x).toFixed(2)} %`;
const mib = (kb) => `${(kb / 1024).toFixed(1)} MiB`;

/** The BENCHMARKS.md section for results `r` (as written to bench/results/unwind.json). */
export function renderUnwind(r) {
  const s = r.share;
  const o = r.overhead;
  const b = r.bpfTime;
  const t = r.tables.files;
  const w = r.wholeHost;
  const u = w.unwind;
  const shareRow = (name, x) =>
    `| ${name} | ${pct(x.tables.share)} (${x.tables.samples}) | ${pct(x.perf.share)} (${x.perf.samples}) | ${pct(x.fp.share)} (${x.fp.samples}) | ${x.tables.unwind ? `${x.tables.unwind.stacksComplete} / ${x.tables.unwind.stacks}` : '—'} |`;
  const oh = renderOverhead(o, b);
  const gap = (x) => Math.abs(x.tables.share - x.perf.share) * 100;
  const reading = [
    `Whole stacks: tables ${pct(s.python.tables.share)} vs perf ${pct(s.python.perf.share)} on python3.11, ${pct(s.nginx.tables.share)} vs ${pct(s.nginx.perf.share)} on nginx, ${pct(s.chain.tables.share)} vs ${pct(s.chain.perf.share)} on chain.c (largest gap to perf ${Math.max(gap(s.python), gap(s.nginx), gap(s.chain)).toFixed(1)} points); the frame-pointer walk gave ${pct(s.python.fp.share)}, ${pct(s.nginx.fp.share)} and ${pct(s.chain.fp.share)}.`,
    oh.reading,
    `Agent memory during the ${WHOLE_SEC} s whole-host profile: peak ${mib(w.agentPeakRssKb)} (target ≤ ${RSS_TARGET_MIB} MiB: ${w.agentPeakRssKb / 1024 <= RSS_TARGET_MIB ? 'met' : 'MISSED'}), after the suite's earlier parts ran on the same agent.`,
  ].join(' ');
  return `## Unwinding (issue 12)

Run ${r.date} on ${r.machine.cpus} CPUs, kernel ${r.machine.kernel}; raw figures in bench/results/unwind.json. "Tables": the agent's default
(TRACEFLEET_AGENT_UNWIND=tables, .eh_frame tables walked in BPF); "fp": a second agent in the same run with TRACEFLEET_AGENT_UNWIND=fp
(the old frame-pointer walk); perf: \`perf record -a -e cpu-clock --call-graph dwarf,16384\`, filtered by pid.

${reading}

Share of samples with a whole stack (${SHARE_SEC} s at 99 Hz, the three profilers on the same process at once; samples in brackets):

| target | tables | perf --call-graph dwarf | fp | tables: complete / walked stacks (BPF counters) |
|---|---|---|---|---|
${shareRow('python3.11 busy.py: main → _PyEval_EvalFrameDefault', s.python)}
${shareRow(`nginx workers (${s.nginx.load.requests} requests): reaches main/__libc_start_main/_start`, s.nginx)}
${shareRow('chain.c (FP-less): main → tf_a → tf_b → tf_c or → tf_sorter → qsort → tf_compare', s.chain)}

${oh.table}

BPF time per run of the \`profile\` program (kernel.bpf_stats_enabled=1, 5 s of a 999 Hz profile of the FP-less workload; runs include other processes' samples, filtered out early):

| unwinding | ns per run | runs | ns per workload sample (all runs' time over the workload's ~${Math.round(b.tables.workloadSamples)} samples) |
|---|---|---|---|
| tables | ${b.tables.nsPerRun.toFixed(0)} | ${b.tables.runCnt} | ${b.tables.nsPerWorkloadSample.toFixed(0)} |
| fp | ${b.fp.nsPerRun.toFixed(0)} | ${b.fp.runCnt} | ${b.fp.nsPerWorkloadSample.toFixed(0)} |

Unwind tables (\`unwindTable(path)\`, median of 3 builds; bytes = rows × 16 in the kernel):

| file | rows | bytes | build ms |
|---|---|---|---|
${Object.values(t).map((f) => `| ${f.path} | ${f.rows} | ${(f.bytes / 1024 / 1024).toFixed(2)} MiB | ${f.buildMs.toFixed(0)} |`).join('\n')}

Whole-host profile (${WHOLE_SEC} s, all processes, 99 Hz; FP-less workload and python3.11 busy.py running):

| measure | figure |
|---|---|
| Agent peak RSS (VmHWM${w.hwmReset ? ', reset before the run' : ''}); RSS at start → end | ${mib(w.agentPeakRssKb)}; ${mib(w.agentRssKbAtStart)} → ${mib(w.agentRssKbAtEnd)} |
| Samples stored | ${w.samplesStored} |
| Stacks complete / walked | ${u.stacksComplete} / ${u.stacks} (${pct(w.completeShare)}) |
| Tables built, build ms, processes given tables | ${u.tablesBuilt}, ${u.tableBuildMs} ms, ${u.processes} |
| Table bytes in the kernel, peak / at the end | ${mib(u.tableBytesPeak / 1024)} / ${mib(u.tableBytes / 1024)} |
| Samples whose user stack reaches the program's entry or a thread's start, by comm (the busiest; from the folded stacks) | ${w.byComm.slice(0, 5).map((c) => `${c.comm} ${pct(c.outermostShare)} of ${c.samples}`).join('; ')} |
| Cut: pending (table not built yet) / no mapping / no row / expression / read fault / invalid / depth | ${u.unwindPending} / ${u.cutNoMapping} / ${u.cutNoRow} / ${u.cutExpression} / ${u.cutReadFault} / ${u.cutInvalid} / ${u.cutDepth} |
${r.eventLoop ? `\nTable builds and the agent's event loop: an Unwinder built ${r.eventLoop.tablesBuilt} tables (${(r.eventLoop.tableBytes / 1024 / 1024).toFixed(1)} MiB: every file of a node and a python3.11 process) in ${r.eventLoop.buildMs.toFixed(0)} ms of pool time (${r.eventLoop.wallMs.toFixed(0)} ms wall) while the event loop's delay stayed at max ${r.eventLoop.maxDelayMs.toFixed(1)} ms, p99 ${r.eventLoop.p99DelayMs.toFixed(1)} ms, mean ${r.eventLoop.meanDelayMs.toFixed(2)} ms (monitorEventLoopDelay, 1 ms resolution).` : ''}`;
}
