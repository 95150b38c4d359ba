// `npm run bench [-- suite...]`: measured, never asserted. Every figure is a comparison within
// this run (with vs without tracing, ours vs bpftrace or libbpf-tools). Each suite writes
// bench/results/<suite>.json and its table in BENCHMARKS.md.
import { startStack } from './lib.mjs';
import { cpuProfileBench } from './cpu-profile.mjs';
import { usdtBench } from './usdt.mjs';
import { memleakBench } from './memleak.mjs';
import { sslBench } from './ssl.mjs';

const suites = { 'cpu-profile': cpuProfileBench, usdt: usdtBench, memleak: memleakBench, ssl: sslBench };
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of chosen) if (!suites[name]) throw new Error(`unknown suite ${name}; have ${Object.keys(suites).join(', ')}`);

const stack = await startStack({ maxDurationSec: 600 });
try {
  for (const [name, fn] of Object.entries(suites)) {
    if (chosen.length && !chosen.includes(name)) continue;
    console.log(`[bench] ${name}`);
    await fn(stack);
  }
} finally {
  await stack.stop();
}
