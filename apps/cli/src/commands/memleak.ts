/** tracefleet memleak: outstanding allocations by stack, growth per node. */
import { Command, Option } from 'commander';
import { act, common, context, type Deps } from '../context';
import { createAndWait, jobBody, jobExit, jobOptions, printJobSummary, type JobFlags } from '../job-run';
import { bytes, clean, printJson, type Io } from '../output';
import { parseDuration, parsePositiveInt } from '../parse';

interface MemleakFlags extends JobFlags {
  interval?: number;
  minAge?: number;
  sampleEvery?: number;
  sampleBytes?: number;
  maxAllocs?: number;
  top?: number;
  mallocProbe?: string;
  stacks: number;
  json?: boolean;
}

function printLeaks(io: Io, r: any, stacks: number): void {
  if (r.note) io.out(`note: ${clean(r.note)}\n`);
  for (const n of r.nodes ?? []) {
    const last = (n.snapshots ?? []).at(-1);
    io.out(`\n${clean(n.node)}: ${last ? `${bytes(last.totalBytes)} outstanding in ${last.totalCount} allocations` : 'no snapshot'}\n`);
    for (const s of (n.top ?? []).slice(0, stacks)) {
      io.out(`  ${bytes(s.bytes)} in ${s.count} allocations${s.growing ? `, growing ${bytes(s.growthBytes)}` : ''}\n`);
      for (const f of [...(s.frames ?? [])].reverse().slice(0, 8)) io.out(`      ${clean(f)}\n`);
    }
  }
}

export function registerMemleak(program: Command, deps: Deps): void {
  const cmd = new Command('memleak')
    .description('track outstanding allocations by stack on the selected nodes')
    .addOption(new Option('--interval <duration>', 'time between snapshots').argParser(parseDuration))
    .addOption(new Option('--min-age <duration>', 'only allocations at least this old count').argParser(parseDuration))
    .option('--sample-every <n>', 'trace every Nth allocation', parsePositiveInt)
    .option('--sample-bytes <n>', 'or one allocation per N bytes', parsePositiveInt)
    .option('--max-allocs <n>', 'size of the live-allocation map on each node', parsePositiveInt)
    .option('--top <n>', 'stacks kept per node', parsePositiveInt)
    .addOption(new Option('--malloc-probe <how>', 'probe malloc at entry+return, or at its return sites').choices(['entry', 'returns']))
    .option('--stacks <n>', 'stacks printed per node', parsePositiveInt, 5);
  jobOptions(cmd, '1m');
  common(cmd);
  cmd.addHelpText('after', '\nExample:\n  tracefleet memleak --pid 4242 --duration 5m --interval 30s\n');
  cmd.action(
    act(deps, async (flags: MemleakFlags) => {
      const ctx = context(flags, deps);
      const body: Record<string, unknown> = jobBody('memleak', flags);
      if (flags.interval !== undefined) body.intervalSec = flags.interval;
      if (flags.minAge !== undefined) body.minAgeSec = flags.minAge;
      if (flags.sampleEvery !== undefined) body.sampleEvery = flags.sampleEvery;
      if (flags.sampleBytes !== undefined) body.sampleBytes = flags.sampleBytes;
      if (flags.maxAllocs !== undefined) body.maxAllocs = flags.maxAllocs;
      if (flags.top !== undefined) body.topN = flags.top;
      if (flags.mallocProbe) body.mallocProbe = flags.mallocProbe;
      const job = await createAndWait(ctx, body, flags.wait);
      const results = flags.wait && job.status !== 'failed' ? await ctx.api.get(`/jobs/${encodeURIComponent(job.id)}/memleak`) : null;
      if (ctx.json) printJson(ctx.io, { job, results });
      else if (!flags.wait) ctx.io.out(`${job.id}\n`);
      else {
        printJobSummary(ctx.io, job);
        if (results) printLeaks(ctx.io, results, flags.stacks);
      }
      return jobExit(job, flags.wait);
    }),
  );
  program.addCommand(cmd);
}
