/** tracefleet schedule create|ls|reports|diff */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { act, common, context, type Deps } from '../context';
import { CliError, EXIT, bytes, clean, printJson, table, when } from '../output';
import { collect, diffFormatOf, nodesBody, parseIntervalMs, parsePositiveInt } from '../parse';
import { readJsonFile } from './incident';

interface CreateFlags {
  cron?: string;
  every?: number;
  job?: string;
  bundle?: string;
  nodes?: string;
  node?: string[];
  name?: string;
  keep?: number;
  json?: boolean;
}

/** The body of POST /schedules from the flags and the --job or --bundle file. */
export function scheduleBody(flags: CreateFlags, read: (file: string) => unknown = readJsonFile): Record<string, unknown> {
  if ((flags.cron === undefined) === (flags.every === undefined)) throw new CliError('give one of --cron PATTERN and --every DURATION');
  if ((flags.job === undefined) === (flags.bundle === undefined)) throw new CliError('give one of --job FILE and --bundle FILE');
  const body: Record<string, unknown> = { nodes: nodesBody(flags.nodes, flags.node) };
  if (flags.cron !== undefined) body.cron = flags.cron;
  if (flags.every !== undefined) body.everyMs = flags.every;
  if (flags.job) {
    const job = read(flags.job);
    if (!job || typeof job !== 'object' || Array.isArray(job)) throw new CliError(`--job ${flags.job}: the file must hold one job body (an object)`);
    const { nodes: _n, ...template } = job as Record<string, unknown>;
    body.job = template;
  } else {
    const b = read(flags.bundle!);
    const list = Array.isArray(b) ? b : (b as { bundle?: unknown })?.bundle;
    if (!Array.isArray(list)) throw new CliError(`--bundle ${flags.bundle}: the file must hold an array of job templates, or an object with "bundle": [...]`);
    body.bundle = list;
  }
  if (flags.name) body.name = flags.name;
  if (flags.keep !== undefined) body.keepReports = flags.keep;
  return body;
}

export function registerSchedule(program: Command, deps: Deps): void {
  const schedule = new Command('schedule').description('run an incident on a cron pattern or an interval, with a report per tick');

  const create = common(
    new Command('create')
      .description('create a schedule')
      .option('--cron <pattern>', "5 or 6 fields, UTC: '*/15 * * * *'")
      .addOption(new Option('--every <duration>', 'or a fixed interval: 10m, 1h').argParser(parseIntervalMs))
      .option('--job <file>', 'JSON: one job body (its nodes, if any, are ignored)')
      .option('--bundle <file>', 'JSON: an array of job templates')
      .option('--nodes <selector>', 'which nodes: a label selector or all', 'all')
      .option('--node <name>', 'a node by name (repeatable)', collect)
      .option('--name <name>', 'a name')
      .option('--keep <n>', 'reports kept', parsePositiveInt),
  );
  create.addHelpText('after', "\nExample (job.json: {\"type\":\"cpu-profile\",\"durationSec\":30,\"target\":{\"all\":true}}):\n  tracefleet schedule create --every 15m --job job.json --nodes 'env=prod'\n");
  create.action(
    act(deps, async (flags: CreateFlags) => {
      const ctx = context(flags, deps);
      const s = await ctx.api.post('/schedules', scheduleBody(flags));
      if (ctx.json) printJson(ctx.io, s);
      else ctx.io.out(`${s.id}\n`);
      if (!ctx.json && s.nextRuns?.length) ctx.io.err(`next runs: ${(s.nextRuns as string[]).map(when).join(', ')}\n`);
      return EXIT.ok;
    }),
  );

  const ls = common(new Command('ls').alias('list').description('schedules with ticks, next fire times and the latest report'));
  ls.action(
    act(deps, async (flags: { json?: boolean }) => {
      const ctx = context(flags, deps);
      const list: any[] = await ctx.api.get('/schedules');
      if (ctx.json) printJson(ctx.io, list);
      else
        ctx.io.out(
          table(
            ['ID', 'NAME', 'WHEN', 'TICKS', 'NEXT', 'LATEST REPORT'],
            list.map((s) => [s.id, s.name ?? '-', s.cron ?? `every ${Math.round(s.everyMs / 1000)}s`, s.ticks, when(s.nextRuns?.[0]), s.latestReport ? `#${s.latestReport.seq} ${s.latestReport.status}` : '-']),
          ),
        );
      return EXIT.ok;
    }),
  );

  const reports = common(
    new Command('reports')
      .description("a schedule's reports, newest first, with their top functions")
      .argument('<schedule>', 'schedule id')
      .option('--limit <n>', 'reports per page', parsePositiveInt)
      .option('--before <cursor>', 'the next-page cursor a previous page printed'),
  );
  reports.action(
    act(deps, async (id: string, flags: { limit?: number; before?: string; json?: boolean }) => {
      const ctx = context(flags, deps);
      const page = await ctx.api.get(`/schedules/${encodeURIComponent(id)}/reports`, { limit: flags.limit, before: flags.before });
      if (ctx.json) printJson(ctx.io, page);
      else {
        ctx.io.out(
          table(
            ['ID', 'SEQ', 'STATUS', 'CREATED', 'SAMPLES', 'TOP FUNCTION'],
            (page.reports as any[]).map((r) => [r.id, r.seq, r.status, when(r.createdAt), r.totalSamples, r.top?.[0] ? `${r.top[0].name} ${Number(r.top[0].selfPct).toFixed(1)}%` : '-']),
          ),
        );
        if (page.nextCursor) ctx.io.err(`more: tracefleet schedule reports ${clean(id)} --before ${clean(page.nextCursor)}\n`);
      }
      return EXIT.ok;
    }),
  );

  const diff = common(
    new Command('diff')
      .description("a report's differential flame graph against the report before it")
      .argument('<schedule>', 'schedule id')
      .argument('[report]', 'report id (default: the latest)')
      .requiredOption('-o, --output <file>', 'where to write the SVG (*.svg)'),
  );
  diff.action(
    act(deps, async (id: string, reportArg: string | undefined, flags: { output: string; json?: boolean }) => {
      if (diffFormatOf(flags.output) !== 'svg') throw new CliError('schedule diff writes an SVG: name the file *.svg');
      const ctx = context(flags, deps);
      let report = reportArg;
      if (!report) {
        const page = await ctx.api.get(`/schedules/${encodeURIComponent(id)}/reports`, { limit: 1 });
        report = page.reports?.[0]?.id;
        if (!report) throw new CliError(`schedule ${id} has no report yet`);
      }
      const body = await ctx.api.bytes(`/schedules/${encodeURIComponent(id)}/reports/${encodeURIComponent(report!)}/diff.svg`);
      writeFileSync(flags.output, body);
      if (ctx.json) printJson(ctx.io, { schedule: id, report, output: { file: flags.output, format: 'svg', bytes: body.length } });
      else ctx.io.err(`wrote ${flags.output} (${bytes(body.length)})\n`);
      return EXIT.ok;
    }),
  );

  schedule.addCommand(create).addCommand(ls).addCommand(reports).addCommand(diff);
  program.addCommand(schedule);
}
