/** What the job-creating commands share: target, duration and node flags, POST /jobs, the wait, the summary. */
import { Command, Option } from 'commander';
import type { Context } from './context';
import { clean, exitCodeFor, table, type Io } from './output';
import { collect, nodesBody, parseDuration, parsePositiveInt, targetBody, type TargetFlags } from './parse';
import { waitJob } from './wait';

export interface JobFlags extends TargetFlags {
  duration: number;
  nodes?: string;
  node?: string[];
  wait: boolean;
}

/** --pid/--comm/--all/--cgroup/--container, --duration, --nodes, --node, --no-wait. */
export function jobOptions(cmd: Command, defaultDuration = '30s'): Command {
  return cmd
    .option('--pid <pid>', 'trace this process', parsePositiveInt)
    .option('--comm <name>', 'trace processes with this command name (up to 15 characters)')
    .option('--all', 'trace every process')
    .option('--cgroup <path>', 'trace the processes of this cgroup and below')
    .option('--container <id>', 'trace this container (id or a prefix of it)')
    .addOption(new Option('-d, --duration <duration>', 'how long: 30s, 2m, 1h or seconds').argParser(parseDuration).default(parseDuration(defaultDuration), defaultDuration))
    .option('--nodes <selector>', "which nodes: a label selector ('env=prod,zone in (a,b)') or all", 'all')
    .option('--node <name>', 'a node by name (repeatable)', collect)
    .option('--no-wait', 'print the job and return at once');
}

/** The common part of a job body. */
export function jobBody(type: string, flags: JobFlags): Record<string, unknown> {
  return { type, durationSec: flags.duration, target: targetBody(flags), nodes: nodesBody(flags.nodes, flags.node) };
}

/** POST /jobs, then (unless --no-wait) the wait; resolves with the job as it ended (or as created). */
export async function createAndWait(ctx: Context, body: Record<string, unknown>, wait: boolean, reattachArgs = ''): Promise<any> {
  const created = await ctx.api.post('/jobs', body);
  const skipped: { node: string; reason: string }[] = created.selection?.skipped ?? [];
  for (const s of skipped) ctx.io.err(`skipped ${clean(s.node)}: ${clean(s.reason)}\n`);
  if (!wait) return created;
  ctx.io.err(`job ${clean(created.id)} (${clean(created.type)}) on ${created.selection?.selected?.length ?? 0} node(s)\n`);
  return waitJob(ctx.api, ctx.io, created, reattachArgs);
}

/** The exit code of a job, or 0 when it was only created (--no-wait). */
export function jobExit(job: any, waited: boolean): number {
  return waited ? exitCodeFor(job.status) : 0;
}

/** A job's outcome for people: a line, then its nodes. */
export function printJobSummary(io: Io, job: any): void {
  const secs = job.startedAt && job.finishedAt ? ` in ${((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000).toFixed(1)}s` : '';
  io.out(`job ${clean(job.id)} ${clean(job.type)}: ${clean(job.status)}${secs}${job.reason ? ` (${clean(job.reason)})` : ''}\n`);
  const runs: any[] = job.runs ?? [];
  if (runs.length) {
    io.out(
      table(
        ['NODE', 'STATUS', 'SAMPLES', 'DROPPED', 'REASON'],
        runs.map((r) => [r.node, r.status, r.samplesStored ?? 0, (r.samplesDroppedKernel ?? 0) + (r.samplesDroppedAgent ?? 0) + (r.samplesLostTransit ?? 0), r.reason ?? '']),
      ),
    );
  }
}
