// `npm run bench [-- suite...]`: measured, never asserted. Most figures are comparisons within this run
// (with vs without tracing, ours vs bpftrace or libbpf-tools); fleet measures one controller replica under
// simulated agents. Each suite writes bench/results/<suite>.json and its table in BENCHMARKS.md.
import { startStack } from './lib.mjs';
import { cpuProfileBench } from './cpu-profile.mjs';
import { usdtBench } from './usdt.mjs';
import { memleakBench } from './memleak.mjs';
import { sslBench } from './ssl.mjs';
import { fleetBench } from './fleet.mjs';
import { fleetReadBench } from './fleet-read.mjs';
import { unwindBench } from './unwind.mjs';
import { chaosBench } from './chaos.mjs';
import { pythonBench } from './python.mjs';
import { targetBench } from './target.mjs';
import { consoleBench } from './console.mjs';
import { runqlatBench } from './runqlat.mjs';
import { biolatencyBench } from './biolatency.mjs';
import { tcpBench } from './tcp.mjs';
import { oomkillBench } from './oomkill.mjs';
import { offCpuBench } from './off-cpu.mjs';
import { execOpenBench } from './exec-open.mjs';
import { agentMemBench } from './agent-mem.mjs';
import { progressWatchBench } from './progress-watch.mjs';

const suites = { 'cpu-profile': cpuProfileBench, usdt: usdtBench, memleak: memleakBench, ssl: sslBench, fleet: fleetBench, 'fleet-read': fleetReadBench, unwind: unwindBench, python: pythonBench, target: targetBench, runqlat: runqlatBench, biolatency: biolatencyBench, tcp: tcpBench, 'off-cpu': offCpuBench, oomkill: oomkillBench, 'exec-open': execOpenBench, 'agent-mem': agentMemBench, chaos: chaosBench, console: consoleBench, progress: progressWatchBench };
// These start their own stack (fleet: simulated agents, no real one; chaos: its faults; progress: seeded jobs, no
// agent) or need none (console: a page in chromium), and run after the shared one has stopped.
const ownStack = new Set(['fleet', 'fleet-read', 'chaos', 'console', 'progress']);
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of chosen) if (!suites[name]) throw new Error(`unknown suite ${name}; have ${Object.keys(suites).join(', ')}`);

const selected = Object.entries(suites).filter(([name]) => !chosen.length || chosen.includes(name));
const shared = selected.filter(([name]) => !ownStack.has(name));
if (shared.length) {
  const stack = await startStack({ maxDurationSec: 600 });
  try {
    for (const [name, fn] of shared) {
      console.log(`[bench] ${name}`);
      await fn(stack);
    }
  } finally {
    await stack.stop();
  }
}
for (const [name, fn] of selected.filter(([n]) => ownStack.has(n))) {
  console.log(`[bench] ${name}`);
  await fn();
}
