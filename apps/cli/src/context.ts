/** What every command gets: its options, an API client configured by flag > env > file, and its output. */
import { Command, Option } from 'commander';
import { ApiClient, type Fetch } from './api';
import { checkTransport, resolveConfig, type CommonFlags } from './config';
import { processIo, type Io } from './output';

export interface Context {
  api: ApiClient;
  io: Io;
  json: boolean;
}

/** Seams the specs replace: fetch, the environment, output. */
export interface Deps {
  fetch?: Fetch;
  env?: NodeJS.ProcessEnv;
  io?: Io;
  /** Where a command's exit code goes (main exits with it). */
  result?: { code: number };
}

/** An action that returns its exit code; errors go to main. */
export function act<A extends unknown[]>(deps: Deps, fn: (...args: A) => Promise<number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const code = await fn(...args);
    if (deps.result) deps.result.code = code;
  };
}

/** The options every command takes, on each command so that they may come anywhere on the line. */
export function common(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'controller URL (env TRACEFLEET_URL, default http://127.0.0.1:8080)'))
    .addOption(new Option('--token <token>', 'API token (env TRACEFLEET_TOKEN, or the file tracefleet login wrote)'))
    .option('--insecure-http', 'allow sending the token over plain http to a host that is not this machine')
    .option('--json', 'machine output: JSON on stdout only');
}

/**
 * The context of a command. `tokenEnv`: an environment variable tried before TRACEFLEET_TOKEN
 * (ssl commands: TRACEFLEET_CAPTURE_TOKEN).
 */
export function context(flags: CommonFlags, deps: Deps = {}, tokenEnv?: string): Context {
  const env = deps.env ?? process.env;
  const scopedEnv = tokenEnv && env[tokenEnv] ? { ...env, TRACEFLEET_TOKEN: env[tokenEnv] } : env;
  const cfg = resolveConfig(flags, scopedEnv);
  checkTransport(cfg.url, Boolean(cfg.token), flags.insecureHttp);
  return { api: new ApiClient(cfg.url, cfg.token, deps.fetch), io: deps.io ?? processIo(), json: Boolean(flags.json) };
}
