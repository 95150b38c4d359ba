/** The command tree, and the one place errors become messages and exit codes. */
import { Command, CommanderError } from 'commander';
import { registerDiff } from './commands/diff';
import { registerIncident } from './commands/incident';
import { registerJobs } from './commands/jobs';
import { registerLogin } from './commands/login';
import { registerMemleak } from './commands/memleak';
import { registerNodes } from './commands/nodes';
import { registerProfile } from './commands/profile';
import { registerSchedule } from './commands/schedule';
import { registerSsl } from './commands/ssl';
import { registerUsdt } from './commands/usdt';
import type { Deps } from './context';
import { CliError, EXIT, clean, processIo } from './output';

export const VERSION = '0.1.0';

export function buildProgram(deps: Deps): Command {
  const program = new Command('tracefleet')
    .description('Fleet-wide eBPF tracing from the command line: profiles, USDT probes, leaks, TLS capture')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const err = deps.io ? deps.io.err : (s: string) => void process.stderr.write(s);
  const out = deps.io ? deps.io.out : (s: string) => void process.stdout.write(s);
  program.configureOutput({ writeOut: out, writeErr: err });
  registerLogin(program, deps);
  registerNodes(program, deps);
  registerProfile(program, deps);
  registerUsdt(program, deps);
  registerMemleak(program, deps);
  registerSsl(program, deps);
  registerJobs(program, deps);
  registerIncident(program, deps);
  registerSchedule(program, deps);
  registerDiff(program, deps);
  // Subcommands inherit exitOverride and output only when set before they are added: set them on each.
  const walk = (c: Command): void => {
    for (const sub of c.commands) {
      sub.exitOverride().configureOutput({ writeOut: out, writeErr: err }).showHelpAfterError('(run with --help for usage)');
      walk(sub);
    }
  };
  walk(program);
  return program;
}

/** Runs one command line; resolves with the exit code (never throws). */
export async function run(argv: string[], deps: Deps = {}): Promise<number> {
  const result = { code: EXIT.ok as number };
  const io = deps.io ?? processIo();
  const program = buildProgram({ ...deps, io, result });
  try {
    await program.parseAsync(argv);
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version end with code 0; usage errors were printed by commander ("error: unknown option '--hzz'").
      if (err.exitCode === 0) return EXIT.ok;
      // Thrown by an action (not by commander's own parsing, which printed it already).
      if (!err.message.startsWith('error:') && err.code !== 'commander.help' && err.code !== 'commander.executeSubCommandAsync') io.err(`error: ${err.message}\n`);
      return EXIT.failed;
    }
    if (err instanceof CliError) {
      io.err(`tracefleet: ${clean(err.message)}\n`);
      return err.exitCode;
    }
    io.err(`tracefleet: ${clean((err as Error)?.stack ?? String(err))}\n`);
    return EXIT.failed;
  }
}
