/**
 * tracefleet ssl tail: TLS plaintext events of an ssl-capture job as they are stored (GET
 * /jobs/:id/ssl-events/stream), one line each, or NDJSON with --json. Every ssl route needs the capture
 * scope: the token is --token, else TRACEFLEET_CAPTURE_TOKEN, else the usual ones.
 */
import { Command, Option } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, type ApiClient } from '../api';
import { act, common, context, type Deps } from '../context';
import { createAndWait, jobBody, jobOptions, type JobFlags } from '../job-run';
import { CliError, clean, exitCodeFor, hms, type Io } from '../output';
import { collect, parsePositiveInt } from '../parse';
import { watch } from '../wait';

interface TailFlags extends JobFlags {
  maxDataBytes?: number;
  http?: boolean;
  port?: string[];
  mode?: string;
  redactHeader?: string[];
  filterNode?: string;
  filterPid?: number;
  direction?: string;
  contains?: string;
  after?: string;
  json?: boolean;
}

/** One event as a line: time, node, process, call, length and the start of its (redacted) text, all cleaned. */
export function sslLine(e: any): string {
  // CR and LF written as \r \n (one event, one line); other controls cleaned.
  const text = clean(String(e.text ?? '').slice(0, 160).replace(/\r/g, '\\r').replace(/\n/g, '\\n'));
  return `${hms(e.at)} ${clean(e.node)} ${clean(e.comm)}[${Number(e.pid)}] ${clean(e.direction)} ${clean(e.function)} ${Number(e.length)}B${e.truncated ? ' (truncated)' : ''}: ${text}`;
}

type Query = Record<string, string | number | undefined>;

/** Streams events until the job ends (`event: status`); reconnects after a drop, resuming after the last id. */
async function tail(api: ApiClient, io: Io, id: string, json: boolean, query: Query, signal: AbortSignal): Promise<{ status: string; reason: string | null }> {
  let after = query.after as string | undefined;
  let failures = 0;
  for (;;) {
    try {
      for await (const ev of api.events(`/jobs/${encodeURIComponent(id)}/ssl-events/stream`, { query: { ...query, after }, signal })) {
        failures = 0;
        if (ev.event === 'ssl') {
          if (ev.id) after = ev.id;
          io.out(json ? `${JSON.stringify(JSON.parse(ev.data))}\n` : `${sslLine(JSON.parse(ev.data))}\n`);
        } else if (ev.event === 'status') {
          const s = JSON.parse(ev.data);
          return { status: s.status, reason: s.reason ?? null };
        }
      }
      if (++failures > 5) throw new CliError(`the event stream of job ${id} keeps ending before the job does`);
    } catch (err) {
      if (signal.aborted || err instanceof ApiError || ++failures > 5) {
        if (err instanceof ApiError && err.status === 403) throw new CliError(`${err.message}: ssl-capture needs the capture token (--token or TRACEFLEET_CAPTURE_TOKEN)`);
        throw err;
      }
    }
    await sleep(Math.min(5000, 500 * 2 ** failures), undefined, { signal });
  }
}

export function registerSsl(program: Command, deps: Deps): void {
  const ssl = new Command('ssl').description('TLS plaintext capture (needs the capture-scope token)');
  const tailCmd = new Command('tail')
    .description('start an ssl-capture job (or attach to one by id) and print its events as they come')
    .argument('[job]', 'an ssl-capture job to attach to; without it, a new job from the flags')
    .option('--max-data-bytes <n>', 'plaintext bytes kept per call', parsePositiveInt)
    .option('--http', 'only connections that carry HTTP')
    .option('--port <port>', 'only connections on this local or peer port (repeatable)', collect)
    .addOption(new Option('--mode <mode>', 'every call, or HTTP/1 heads only').choices(['full', 'headers']))
    .option('--redact-header <name>', 'also redact this header (repeatable)', collect)
    .option('--filter-node <name>', 'print only this node')
    .option('--filter-pid <pid>', 'print only this process', parsePositiveInt)
    .addOption(new Option('--direction <dir>', 'print only reads, writes or handshakes').choices(['read', 'write', 'handshake']))
    .option('--contains <text>', 'print only events whose plaintext holds this text')
    .option('--after <eventId>', 'start after this event id');
  jobOptions(tailCmd);
  common(tailCmd);
  tailCmd.addHelpText('after', '\nExamples:\n  tracefleet ssl tail --comm curl --duration 1m --http\n  tracefleet ssl tail 3f1c2a9e-... --json > events.ndjson\n');
  tailCmd.action(
    act(deps, async (jobArg: string | undefined, flags: TailFlags) => {
      const ctx = context(flags, deps, 'TRACEFLEET_CAPTURE_TOKEN');
      let job: any;
      if (jobArg) job = await ctx.api.get(`/jobs/${encodeURIComponent(jobArg)}`);
      else {
        const body: Record<string, unknown> = jobBody('ssl-capture', flags);
        if (flags.maxDataBytes !== undefined) body.maxDataBytes = flags.maxDataBytes;
        if (flags.mode) body.mode = flags.mode;
        if (flags.redactHeader?.length) body.redactHeaders = flags.redactHeader;
        if (flags.http || flags.port?.length) {
          body.filter = { ...(flags.http ? { http: true } : {}), ...(flags.port?.length ? { ports: flags.port.map((p) => parsePositiveInt(p)) } : {}) };
        }
        try {
          job = await createAndWait(ctx, body, false);
        } catch (err) {
          if (err instanceof ApiError && err.status === 403) throw new CliError(`${err.message}: ssl-capture needs the capture token (--token or TRACEFLEET_CAPTURE_TOKEN)`);
          throw err;
        }
        ctx.io.err(`job ${clean(job.id)} (ssl-capture) on ${job.selection?.selected?.length ?? 0} node(s); Ctrl-C to stop or detach\n`);
      }
      if (job.type !== 'ssl-capture') throw new CliError(`job ${jobArg} is a ${clean(job.type)} job, not ssl-capture`);
      const nodes = job.selection?.selected?.length ?? job.runs?.length ?? 0;
      const query: Query = { node: flags.filterNode, pid: flags.filterPid, direction: flags.direction, contains: flags.contains, after: flags.after };
      const end = await watch(ctx.io, {
        what: `job ${job.id}`,
        scope: `on ${nodes} node${nodes === 1 ? '' : 's'}`,
        reattach: `tracefleet ssl tail ${job.id}`,
        stop: async () => void (await ctx.api.post(`/jobs/${encodeURIComponent(job.id)}/stop`)),
        run: (signal) => tail(ctx.api, ctx.io, job.id, ctx.json, query, signal),
      });
      ctx.io.err(`job ${clean(job.id)}: ${clean(end.status)}${end.reason ? ` (${clean(end.reason)})` : ''}\n`);
      return exitCodeFor(end.status);
    }),
  );
  ssl.addCommand(tailCmd);
  program.addCommand(ssl);
}
