/** tracefleet jobs ls|get|stop|wait */
import { Command } from 'commander';
import { act, common, context, type Deps } from '../context';
import { printJobSummary } from '../job-run';
import { EXIT, bytes, clean, exitCodeFor, isTerminal, printJson, table, when } from '../output';
import { parseOutputFile, parsePositiveInt } from '../parse';
import { writeJobOutput } from './profile';
import { getJob, waitJob } from '../wait';

interface ListFlags {
  status?: string;
  type?: string;
  node?: string;
  incident?: string;
  schedule?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit?: number;
  before?: string;
  json?: boolean;
}

export function registerJobs(program: Command, deps: Deps): void {
  const jobs = new Command('jobs').description('list, inspect, stop and wait for jobs');

  const ls = common(
    new Command('ls')
      .alias('list')
      .description('jobs, newest first, a page at a time')
      .option('--status <status>', 'queued, running, completed, partial, failed or stopped')
      .option('--type <type>', 'cpu-profile, usdt, memleak, ssl-capture, ...')
      .option('--node <name>', 'jobs with a run on this node')
      .option('--incident <id>', 'the jobs of this incident')
      .option('--schedule <id>', "the jobs this schedule's ticks created")
      .option('--created-after <time>', 'ISO 8601 date or date-time with its zone')
      .option('--created-before <time>', 'ISO 8601 date or date-time with its zone')
      .option('--limit <n>', 'jobs per page (default 20, at most 100)', parsePositiveInt)
      .option('--before <cursor>', 'the next-page cursor a previous page printed'),
  );
  ls.action(
    act(deps, async (flags: ListFlags) => {
      const ctx = context(flags, deps);
      const page = await ctx.api.get('/jobs', {
        status: flags.status,
        type: flags.type,
        node: flags.node,
        incident: flags.incident,
        schedule: flags.schedule,
        createdAfter: flags.createdAfter,
        createdBefore: flags.createdBefore,
        limit: flags.limit,
        before: flags.before,
      });
      if (ctx.json) {
        printJson(ctx.io, page);
        return EXIT.ok;
      }
      ctx.io.out(
        table(
          ['ID', 'TYPE', 'STATUS', 'CREATED', 'DURATION', 'NODES'],
          (page.jobs as any[]).map((j) => [j.id, j.type, j.status, when(j.createdAt), `${j.durationSec}s`, (j.nodes ?? []).join(',')]),
        ),
      );
      if (page.nextCursor) ctx.io.err(`more: tracefleet jobs ls --before ${clean(page.nextCursor)}${flags.limit ? ` --limit ${flags.limit}` : ''}\n`);
      return EXIT.ok;
    }),
  );

  const get = common(new Command('get').description('one job: status, per-node runs and counters').argument('<id>', 'job id'));
  get.action(
    act(deps, async (id: string, flags: { json?: boolean }) => {
      const ctx = context(flags, deps);
      const job = await getJob(ctx.api, id);
      if (ctx.json) printJson(ctx.io, job);
      else {
        printJobSummary(ctx.io, job);
        ctx.io.out(`created ${when(job.createdAt)}, started ${when(job.startedAt)}, finished ${when(job.finishedAt)}\n`);
        if (job.stoppedBy) ctx.io.out(`stopped by the ${clean(job.stoppedBy)} token\n`);
        for (const s of job.selection?.skipped ?? []) ctx.io.out(`skipped ${clean(s.node)}: ${clean(s.reason)}\n`);
      }
      return EXIT.ok;
    }),
  );

  const stop = common(
    new Command('stop')
      .description('stop a job: its runs end now and keep what they captured')
      .argument('<id>', 'job id')
      .option('--no-wait', 'return once the stop is asked, before the runs have ended'),
  );
  stop.action(
    act(deps, async (id: string, flags: { json?: boolean; wait: boolean }) => {
      const ctx = context(flags, deps);
      let job = await ctx.api.post(`/jobs/${encodeURIComponent(id)}/stop`);
      if (flags.wait && !isTerminal(job.status)) {
        ctx.io.err(`stopping job ${clean(id)}\n`);
        job = await waitJob(ctx.api, ctx.io, job);
      }
      if (ctx.json) printJson(ctx.io, job);
      else ctx.io.out(`job ${clean(job.id)}: ${clean(job.status)}${job.reason ? ` (${clean(job.reason)})` : ''}\n`);
      // The stop asked for has happened: success, whatever the job's own end state says.
      return EXIT.ok;
    }),
  );

  const wait = common(
    new Command('wait')
      .description('follow a job until it ends; the exit code says how it ended')
      .argument('<id>', 'job id')
      .option('-o, --output <file>', 'then write its result: *.svg, *.folded, *.pb.gz or *.speedscope.json', parseOutputFile),
  );
  wait.action(
    act(deps, async (id: string, flags: { json?: boolean; output?: string }) => {
      const ctx = context(flags, deps);
      const job = await waitJob(ctx.api, ctx.io, id, flags.output ? ` -o ${flags.output}` : '');
      let output: { file: string; format: string; bytes: number } | null = null;
      if (flags.output && job.status !== 'failed') {
        output = await writeJobOutput(ctx.api, job.id, flags.output);
        ctx.io.err(`wrote ${clean(output.file)} (${output.format}, ${bytes(output.bytes)})\n`);
      }
      if (ctx.json) printJson(ctx.io, flags.output ? { job, output } : job);
      else printJobSummary(ctx.io, job);
      return exitCodeFor(job.status);
    }),
  );

  jobs.addCommand(ls).addCommand(get).addCommand(stop).addCommand(wait);
  program.addCommand(jobs);
}
