/**
 * Where the CLI finds the controller and its token: a flag, else the environment, else the file
 * `tracefleet login` wrote ($XDG_CONFIG_HOME/tracefleet/config.json, or ~/.config/...). The file holds a
 * bearer token: it is written 0600 in a 0700 directory, and read only when it is not open to others.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './output';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface ConfigFile {
  url?: string;
  token?: string;
}

/** The options every command takes. */
export interface CommonFlags {
  url?: string;
  token?: string;
  insecureHttp?: boolean;
  json?: boolean;
}

export interface Resolved {
  /** The controller's base, without /api/v1 and without a trailing slash. */
  url: string;
  token: string | undefined;
  /** Where each came from, for messages (never the token itself). */
  urlFrom: 'flag' | 'env' | 'file' | 'default';
  tokenFrom: 'flag' | 'env' | 'file' | 'none';
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(base, 'tracefleet', 'config.json');
}

/** The saved file, or {} when there is none. A file others can read or write is refused: it holds a token. */
export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      throw new CliError(`${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}); it holds a token: chmod 600 ${path}`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    const { url, token } = parsed as Record<string, unknown>;
    return { url: typeof url === 'string' ? url : undefined, token: typeof token === 'string' ? token : undefined };
  } catch (err) {
    throw new CliError(`${path} is not a tracefleet config file (${(err as Error).message}): run tracefleet login again`);
  }
}

/** Writes the file 0600 (through a temporary file, so a reader never sees half of it), its directory 0700. */
export function writeConfigFile(path: string, config: ConfigFile): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** Flag > environment > file > default, for the URL and the token each. */
export function resolveConfig(flags: CommonFlags, env: NodeJS.ProcessEnv = process.env, file?: ConfigFile): Resolved {
  const saved = file ?? readConfigFile(configPath(env));
  const pick = <T extends string>(flag: string | undefined, fromEnv: string | undefined, fromFile: string | undefined, none: T) =>
    flag ? ({ value: flag, from: 'flag' } as const) : fromEnv ? ({ value: fromEnv, from: 'env' } as const) : fromFile ? ({ value: fromFile, from: 'file' } as const) : { value: undefined, from: none };
  const url = pick(flags.url, env.TRACEFLEET_URL, saved.url, 'default' as const);
  const token = pick(flags.token, env.TRACEFLEET_TOKEN, saved.token, 'none' as const);
  return { url: normalizeUrl(url.value ?? DEFAULT_URL), urlFrom: url.from, token: token.value, tokenFrom: token.from };
}

/** http(s)://host[:port][/prefix] without a trailing slash nor /api/v1 (both forms are accepted). */
export function normalizeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`--url ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(`--url ${JSON.stringify(raw)} must be http:// or https://`);
  if (u.username || u.password) throw new CliError('--url must not carry credentials: use --token or TRACEFLEET_TOKEN');
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Whether a URL's host is this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1' || /^::ffff:127\./.test(host);
}

/** A token over plain http to another host is readable on the way: refused unless the user says so. */
export function checkTransport(url: string, hasToken: boolean, insecureHttp: boolean | undefined): void {
  if (!hasToken || insecureHttp || !url.startsWith('http:') || isLoopback(url)) return;
  throw new CliError(
    `refusing to send the token over plain http to ${new URL(url).host}: anyone on the path can read it. ` +
      'Use an https:// URL, or pass --insecure-http if you accept that risk.',
  );
}
