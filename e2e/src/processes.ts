/** Small pieces the end-to-end suites share for the processes and files they start with. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { constants } from 'node:os';

/** A started process whose stdout and stderr are kept, in arrival order, for output(). */
export type Launched = ChildProcess & { output: () => string };

/** Spawns cmd with its stdout and stderr collected, and adds it to `children` (which the suite's after() kills). */
export function launchCollecting(children: ChildProcess[], cmd: string, args: string[]): Launched {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }) as Launched;
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  child.output = () => out;
  children.push(child);
  return child;
}

/** A self-signed certificate for CN=localhost, valid one day, written to dir/cert.pem and dir/key.pem. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const res = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], {
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`openssl req failed: ${res.stderr}${res.error ?? ''}`);
  return { cert, key };
}

let exitsOnSignals = false;
/**
 * SIGINT, SIGTERM and SIGHUP end this process through process.exit, so its 'exit' handlers run (the
 * harness's killOnExit: no controller or agent outlives a test or bench stopped by Ctrl-C or a timeout's
 * SIGTERM; by default such a signal ends Node without them). A signal this process already handles
 * keeps its own handling.
 */
export function exitOnSignals(): void {
  if (exitsOnSignals) return;
  exitsOnSignals = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + constants.signals[sig]));
  }
}
