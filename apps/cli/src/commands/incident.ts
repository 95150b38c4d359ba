/** tracefleet incident create|get: several jobs started together on every selected node. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { ApiClient } from '../api';
import { act, common, context, type Deps } from '../context';
import { CliError, EXIT, clean, exitCodeFor, printJson, table, type Io } from '../output';
import { nodesBody } from '../parse';
import { watch } from '../wait';

/** A JSON file's content; the error names the file. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/** The body of POST /incidents from --bundle: a whole request ({nodes?, bundle, ...}) or just the array of templates. */
export function incidentBody(file: unknown, flags: { nodes?: string; node?: string[]; name?: string }): Record<string, unknown> {
  const body: Record<string, unknown> = Array.isArray(file) ? { bundle: file } : file && typeof file === 'object' ? { ...(file as Record<string, unknown>) } : {};
  if (!Array.isArray(body.bundle)) throw new CliError('--bundle: the file must hold an array of job templates, or an object with "bundle": [...]');
  if (flags.nodes !== undefined || flags.node?.length || body.nodes === undefined) body.nodes = nodesBody(flags.nodes, flags.node);
  if (flags.name) body.name = flags.name;
  return body;
}

const ACTIVE = ['running', 'queued'];

function printIncident(io: Io, inc: any): void {
  io.out(`incident ${clean(inc.id)}${inc.name ? ` "${clean(inc.name)}"` : ''}: ${clean(inc.status)}${inc.startSkewMs !== null && inc.startSkewMs !== undefined ? `, start skew ${inc.startSkewMs} ms` : ''}\n`);
  const rows: unknown[][] = [];
  for (const j of inc.jobs ?? []) for (const r of j.runs ?? []) rows.push([j.id, j.type, r.node, r.status, r.samplesStored ?? 0, r.reason ?? '']);
  if (rows.length) io.out(table(['JOB', 'TYPE', 'NODE', 'STATUS', 'SAMPLES', 'REASON'], rows));
}

/** Polls the incident once a second (its jobs' streams would be one each): a line per job state change. */
async function followIncident(api: ApiClient, io: Io, id: string, signal: AbortSignal): Promise<any> {
  const seen = new Map<string, string>();
  for (;;) {
    const inc = await api.get(`/incidents/${encodeURIComponent(id)}`);
    for (const j of inc.jobs ?? []) {
      if (seen.get(j.id) === j.status) continue;
      seen.set(j.id, j.status);
      io.err(`  job ${clean(j.id)} ${clean(j.type)}: ${clean(j.status)}${j.reason ? ` (${clean(j.reason)})` : ''}\n`);
    }
    if (!ACTIVE.includes(inc.status)) return inc;
    await sleep(1000, undefined, { signal });
  }
}

export function registerIncident(program: Command, deps: Deps): void {
  const incident = new Command('incident').description('incidents: several jobs started together on every selected node');
  const create = common(
    new Command('create')
      .description('start an incident from a bundle file, then wait for its jobs')
      .requiredOption('--bundle <file>', 'JSON: an array of job templates (POST /jobs bodies without nodes), or a whole POST /incidents body')
      .option('--nodes <selector>', "which nodes: a label selector or all (default: the file's, else all)")
      .option('--node <name>', 'a node by name (repeatable)', (v: string, p: string[] | undefined) => [...(p ?? []), v])
      .option('--name <name>', 'a name for the incident')
      .option('--no-wait', 'print the incident and return at once'),
  );
  create.addHelpText('after', '\nExample (bundle.json: [{"type":"cpu-profile","durationSec":30,"target":{"all":true}}]):\n  tracefleet incident create --bundle bundle.json --nodes env=prod\n');
  create.action(
    act(deps, async (flags: { bundle: string; nodes?: string; node?: string[]; name?: string; wait: boolean; json?: boolean }) => {
      const ctx = context(flags, deps);
      const body = incidentBody(readJsonFile(flags.bundle), flags);
      let inc = await ctx.api.post('/incidents', body);
      if (flags.wait) {
        ctx.io.err(`incident ${clean(inc.id)}: ${(inc.jobs ?? []).length} job(s)\n`);
        const running = (): string[] => (inc.jobs ?? []).filter((j: any) => ACTIVE.includes(j.status)).map((j: any) => j.id);
        const nodes = new Set((inc.jobs ?? []).flatMap((j: any) => (j.runs ?? []).map((r: any) => r.node))).size;
        inc = await watch(ctx.io, {
          what: `incident ${inc.id}`,
          scope: `(${running().length} job(s) on ${nodes} node(s))`,
          reattach: `tracefleet incident get ${inc.id} (or tracefleet jobs wait JOB)`,
          stop: async () => {
            for (const j of running()) await ctx.api.post(`/jobs/${encodeURIComponent(j)}/stop`).catch(() => undefined);
          },
          run: (signal) => followIncident(ctx.api, ctx.io, inc.id, signal),
        });
      }
      if (ctx.json) printJson(ctx.io, inc);
      else if (!flags.wait) ctx.io.out(`${inc.id}\n`);
      else printIncident(ctx.io, inc);
      return flags.wait ? exitCodeFor(inc.status) : EXIT.ok;
    }),
  );
  const get = common(new Command('get').description('one incident: status, jobs and runs, start skew').argument('<id>', 'incident id'));
  get.action(
    act(deps, async (id: string, flags: { json?: boolean }) => {
      const ctx = context(flags, deps);
      const inc = await ctx.api.get(`/incidents/${encodeURIComponent(id)}`);
      if (ctx.json) printJson(ctx.io, inc);
      else printIncident(ctx.io, inc);
      return EXIT.ok;
    }),
  );
  incident.addCommand(create).addCommand(get);
  program.addCommand(incident);
}
