/** tracefleet profile: a cpu-profile job, its wait, and its output written in the format -o names. */
import { spawn } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Command, Option } from 'commander';
import { act, common, context, type Deps } from '../context';
import { createAndWait, jobBody, jobExit, jobOptions, printJobSummary, type JobFlags } from '../job-run';
import { CliError, EXIT, bytes, clean, printJson, type Io } from '../output';
import { PROFILE_ROUTES, formatOf, parseOutputFile, parsePositiveInt } from '../parse';
import type { ApiClient } from '../api';

interface ProfileFlags extends JobFlags {
  hz?: number;
  output?: string;
  open?: boolean;
  userStacks?: boolean;
  javaPerfMaps?: boolean;
  pythonFrames?: boolean;
  json?: boolean;
}

/** Downloads a job's output in the format of `file`'s extension and writes it there. */
export async function writeJobOutput(api: ApiClient, jobId: string, file: string, query: Record<string, string | undefined> = {}): Promise<{ file: string; format: string; bytes: number }> {
  const format = formatOf(file);
  const body = await api.bytes(`/jobs/${encodeURIComponent(jobId)}/${PROFILE_ROUTES[format]}`, query);
  try {
    writeFileSync(file, body);
  } catch (err) {
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
  return { file, format, bytes: body.length };
}

/** The first executable `name` on PATH. */
export function onPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** xdg-open, detached; its absence or failure is a message, never an error of the command. */
export function openFile(io: Io, file: string): void {
  const opener = onPath('xdg-open');
  if (!opener) {
    io.err(`--open: xdg-open is not installed; open ${file} yourself\n`);
    return;
  }
  try {
    const child = spawn(opener, [file], { detached: true, stdio: 'ignore' });
    child.on('error', (err) => io.err(`--open: xdg-open failed: ${err.message}\n`));
    child.unref();
  } catch (err) {
    io.err(`--open: xdg-open failed: ${(err as Error).message}\n`);
  }
}

export function registerProfile(program: Command, deps: Deps): void {
  const cmd = new Command('profile')
    .description('CPU-profile processes on the selected nodes, wait, and write a flame graph or profile')
    .addOption(new Option('--hz <hz>', 'samples per second per CPU (1-1000)').argParser(parsePositiveInt).default(99))
    .option('-o, --output <file>', 'write the result: *.svg, *.folded, *.pb.gz (pprof) or *.speedscope.json', parseOutputFile)
    .option('--open', 'open the written file with xdg-open')
    .option('--java-perf-maps', 'ask JVMs for perf maps (JIT frames)')
    .option('--python-frames', 'name CPython frames');
  jobOptions(cmd);
  common(cmd);
  cmd.addHelpText('after', "\nExample:\n  tracefleet profile --pid 4242 --duration 30s --nodes 'env=prod' -o cpu.svg --open\n");
  cmd.action(
    act(deps, async (flags: ProfileFlags) => {
      const ctx = context(flags, deps);
      const body: Record<string, unknown> = { ...jobBody('cpu-profile', flags), frequencyHz: flags.hz };
      if (flags.javaPerfMaps) body.javaPerfMaps = true;
      if (flags.pythonFrames) body.pythonFrames = true;
      const job = await createAndWait(ctx, body, flags.wait, flags.output ? ` -o ${flags.output}` : '');
      let output: { file: string; format: string; bytes: number } | null = null;
      // A partial or stopped job kept what it captured: write that too (the exit code says it is partial).
      if (flags.wait && flags.output && ['completed', 'partial', 'stopped'].includes(job.status)) {
        output = await writeJobOutput(ctx.api, job.id, flags.output);
        ctx.io.err(`wrote ${clean(output.file)} (${output.format}, ${bytes(output.bytes)})\n`);
        if (flags.open) openFile(ctx.io, output.file);
      }
      if (ctx.json) printJson(ctx.io, { job, output });
      else if (flags.wait) printJobSummary(ctx.io, job);
      else ctx.io.out(`${job.id}\n`);
      if (flags.wait && flags.output && !output && job.status === 'failed') ctx.io.err(`no output written: the job failed\n`);
      return flags.wait && job.status === 'failed' ? EXIT.failed : jobExit(job, flags.wait);
    }),
  );
  program.addCommand(cmd);
}
