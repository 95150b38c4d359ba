// Faults the delivery tests and the chaos benchmark inject on this machine: PostgreSQL stopped, a Redis of
// the test's own shut down without saving, an agent's network link cut (a network namespace and a veth
// pair). Each undoes itself in the caller's cleanup.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { redisCli, waitFor } from './harness';

/** The machine's PostgreSQL cluster, stopped and started as infra/setup.sh starts it. */
export function pgCtl(action: 'start' | 'stop'): void {
  const version = readdirSync('/etc/postgresql').sort((a, b) => Number(a) - Number(b)).at(-1)!;
  const args = ['--skip-systemctl-redirect', version, 'main', action, ...(action === 'stop' ? ['-m', 'fast'] : [])];
  const r = spawnSync('pg_ctlcluster', args, { encoding: 'utf8' });
  const already = /already running|is not running/.test(`${r.stdout}${r.stderr}`);
  if (r.status !== 0 && !already) throw new Error(`pg_ctlcluster ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/**
 * A Redis of the caller's own (a child process on `port`, no persistence, no password), so that it can be
 * shut down without saving without touching the machine's Redis. Killed when this process exits.
 */
export class OwnRedis {
  child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const kill = (): void => void child.kill('SIGKILL');
    process.once('exit', kill);
    child.once('exit', () => process.removeListener('exit', kill));
    this.child = child;
    await waitFor(async () => this.cli(['ping']).trim() === 'PONG', 10_000, `redis on ${this.port}`);
  }

  /** `redis-cli shutdown nosave`: everything it held is gone. Resolves once the process has exited. */
  async shutdownNosave(): Promise<void> {
    const child = this.child!;
    this.cli(['shutdown', 'nosave']);
    await waitFor(async () => child.exitCode !== null || child.signalCode !== null, 10_000, 'redis to stop');
  }

  kill(): void {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private cli(args: string[]): string {
    return redisCli(this.url, args).out;
  }
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error}`);
}

/**
 * A network namespace joined to the host by a veth pair: the host end has `hostIp` (a controller can
 * listen there), the namespace end `${subnet}.2`. cut() sets the host end down, restore() up again.
 */
export class NetnsLink {
  readonly ns: string;
  readonly hostIf: string;
  readonly hostIp: string;
  private readonly nsIf: string;
  private readonly subnet: string;

  constructor(tag: string) {
    this.ns = `tf-${tag}`;
    this.hostIf = `tfh${tag}`;
    this.nsIf = `tfn${tag}`;
    // A /30 of its own per tag: 10.231.<0..255>.0.
    this.subnet = `10.231.${parseInt(tag.slice(0, 2), 16) || 0}`;
    this.hostIp = `${this.subnet}.1`;
  }

  create(): void {
    ip(['netns', 'add', this.ns]);
    ip(['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.nsIf]);
    ip(['link', 'set', this.nsIf, 'netns', this.ns]);
    ip(['addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf]);
    ip(['link', 'set', this.hostIf, 'up']);
    ip(['netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.subnet}.2/30`, 'dev', this.nsIf]);
    ip(['netns', 'exec', this.ns, 'ip', 'link', 'set', this.nsIf, 'up']);
    ip(['netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up']);
  }

  cut(): void {
    ip(['link', 'set', this.hostIf, 'down']);
  }

  restore(): void {
    ip(['link', 'set', this.hostIf, 'up']);
  }

  /** Deletes the pair and the namespace (quietly: cleanup after a failure). */
  remove(): void {
    spawnSync('ip', ['link', 'del', this.hostIf]);
    spawnSync('ip', ['netns', 'del', this.ns]);
  }
}
