/** tracefleet usdt list|run */
import { Command, Option } from 'commander';
import { act, common, context, type Deps } from '../context';
import { createAndWait, jobBody, jobExit, jobOptions, printJobSummary, type JobFlags } from '../job-run';
import { CliError, EXIT, printJson, table, type Io } from '../output';
import { collect, parseNonNegativeInt, parsePair, parsePositiveInt } from '../parse';

interface RunFlags extends JobFlags {
  preset?: string;
  probe?: string[];
  binary?: string;
  pair?: { begin: string; end: string; label?: string }[];
  maxEvents?: number;
  userStacks?: boolean;
  slowest?: number;
  json?: boolean;
}

const ms = (ns: unknown): string => `${(Number(ns) / 1e6).toFixed(3)} ms`;

function printResults(io: Io, r: any): void {
  const probes: any[] = r.probes ?? [];
  if (probes.length) io.out(table(['PROBE', 'HITS', 'CAPTURED', 'BY NODE'], probes.map((p) => [p.probe, p.count, p.eventsCaptured, Object.entries(p.byNode ?? {}).map(([n, c]) => `${n}=${c}`).join(',')])));
  const pairs: any[] = r.pairs ?? [];
  if (pairs.length) io.out(table(['PAIR', 'COUNT', 'MEAN', 'TOTAL', 'UNMATCHED ENDS'], pairs.map((p) => [p.label, p.count, ms(p.meanNs), ms(p.totalNs), p.unmatchedEnds])));
}

export function registerUsdt(program: Command, deps: Deps): void {
  const usdt = new Command('usdt').description('USDT probes: list what a process or binary has, run a usdt job');

  const list = common(
    new Command('list')
      .description('probes the node finds in a process (its executable and libraries) or a binary')
      .argument('<node>', 'node name')
      .option('--pid <pid>', 'a process on that node', parsePositiveInt)
      .option('--binary <path>', 'an ELF file on that node (absolute path)'),
  );
  list.action(
    act(deps, async (node: string, flags: { pid?: number; binary?: string; json?: boolean }) => {
      if ((flags.pid === undefined) === (flags.binary === undefined)) throw new CliError('give one of --pid N and --binary PATH');
      const ctx = context(flags, deps);
      const res = await ctx.api.get(`/nodes/${encodeURIComponent(node)}/usdt`, { pid: flags.pid, binary: flags.binary });
      if (ctx.json) printJson(ctx.io, res);
      else ctx.io.out(table(['PROBE', 'PATH', 'OFFSET', 'SEMAPHORE', 'ARGS'], (res.probes ?? []).map((p: any) => [`${p.provider}:${p.name}`, p.path, p.fileOffset, p.semaphore ?? '-', (p.args ?? []).length])));
      return EXIT.ok;
    }),
  );

  const run = new Command('run')
    .description('count probe hits (and time begin/end pairs) on the selected nodes')
    .addOption(new Option('--preset <preset>', 'GC pauses').choices(['jvm-gc', 'python-gc']))
    .option('--probe <provider:probe>', 'a probe to count (repeatable)', collect)
    .option('--binary <path>', 'the ELF file with the probes (default: the target process)')
    .option('--pair <begin,end[,label]>', 'time from a begin probe to an end probe (repeatable)', parsePair)
    .option('--max-events <n>', 'events kept with arguments per node (0: count only)', parseNonNegativeInt)
    .option('--user-stacks', 'capture user stacks')
    .option('--slowest <n>', 'slowest occurrences kept per pair', parseNonNegativeInt);
  jobOptions(run);
  common(run);
  run.addHelpText('after', '\nExamples:\n  tracefleet usdt run --pid 4242 --preset jvm-gc --duration 1m\n  tracefleet usdt run --comm python3 --probe python:gc__start --probe python:gc__done --duration 30s\n');
  run.action(
    act(deps, async (flags: RunFlags) => {
      if (!flags.preset && !flags.probe?.length && !flags.pair?.length) throw new CliError('say what to probe: --preset, --probe provider:probe or --pair begin,end');
      const ctx = context(flags, deps);
      const body: Record<string, unknown> = jobBody('usdt', flags);
      if (flags.preset) body.preset = flags.preset;
      if (flags.probe?.length) body.probes = flags.probe;
      if (flags.binary) body.binary = flags.binary;
      if (flags.pair?.length) body.pairs = flags.pair;
      if (flags.maxEvents !== undefined) body.maxEvents = flags.maxEvents;
      if (flags.userStacks) body.userStacks = true;
      if (flags.slowest !== undefined) body.slowestN = flags.slowest;
      const job = await createAndWait(ctx, body, flags.wait);
      const results = flags.wait && job.status !== 'failed' ? await ctx.api.get(`/jobs/${encodeURIComponent(job.id)}/usdt`) : null;
      if (ctx.json) printJson(ctx.io, { job, results });
      else if (!flags.wait) ctx.io.out(`${job.id}\n`);
      else {
        printJobSummary(ctx.io, job);
        if (results) printResults(ctx.io, results);
      }
      return jobExit(job, flags.wait);
    }),
  );

  usdt.addCommand(list).addCommand(run);
  program.addCommand(usdt);
}

