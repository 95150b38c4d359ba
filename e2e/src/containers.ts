/**
 * Docker for the container e2e: the engine infra/setup.sh started, and one image with Debian's python3 and
 * nodejs built offline once per machine (mmdebstrap → docker import; no registry is reachable here) and
 * reused by every later run. Containers started here are removed by `removeAll`, whatever the test did.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WORK } from './harness';

/** What goes into the image; its hash names the image, so a changed recipe builds a new one. */
const RECIPE = ['bookworm', 'minbase', 'python3,nodejs'];
export const IMAGE = `tracefleet-e2e-runtime:${createHash('sha256').update(RECIPE.join(' ')).digest('hex').slice(0, 12)}`;

export function docker(args: string[], timeoutMs = 120_000): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.status, 0, `docker ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout.trim();
}

/** The engine answers, or the test fails saying what to do (infra/setup.sh starts dockerd). */
export function requireDocker(): void {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}} {{.CgroupVersion}}'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `no Docker engine answers (run npm run setup, which starts dockerd): ${r.error?.message ?? ''}${r.stderr}`);
  console.log(`# docker engine ${r.stdout.trim()} (server version, cgroup version)`);
}

/** The runtime image: built on first use on this machine (about a minute), then reused. */
export function ensureImage(): string {
  if (spawnSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' }).status === 0) return IMAGE;
  mkdirSync(WORK, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(WORK, 'image-'));
  try {
    const tar = join(dir, 'rootfs.tar');
    const started = Date.now();
    const r = spawnSync('mmdebstrap', ['--quiet', `--variant=${RECIPE[1]}`, `--include=${RECIPE[2]}`, RECIPE[0], tar], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `mmdebstrap failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr.slice(-3000)}`);
    docker(['import', tar, IMAGE], 300_000);
    console.log(`# built ${IMAGE} in ${((Date.now() - started) / 1000).toFixed(0)} s (once per machine)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return IMAGE;
}

const started: string[] = [];

/**
 * Starts a detached container of the runtime image (no network, e2e/fixtures read-only at /fx, and `mounts`
 * as host:container pairs, read-only); its full id.
 */
export function runContainer(name: string, cmd: string[], mounts: [string, string][] = []): string {
  const volumes = [[join(WORK, '..', 'fixtures'), '/fx'], ...mounts].flatMap(([h, c]) => ['-v', `${h}:${c}:ro`]);
  const id = docker(['run', '-d', '--rm', '--network', 'none', '--name', name, ...volumes, IMAGE, ...cmd]);
  assert.match(id, /^[0-9a-f]{64}$/, `docker run gave ${id}`);
  started.push(id);
  return id;
}

/** The host pid of the container's main process. */
export function containerPid(id: string): number {
  const pid = Number(docker(['inspect', '--format', '{{.State.Pid}}', id]));
  assert.ok(pid > 0, `container ${id} has no running process`);
  return pid;
}

/** Removes every container started here (force: running ones are killed). */
export function removeAll(): void {
  for (const id of started.splice(0)) spawnSync('docker', ['rm', '-f', id], { stdio: 'ignore', timeout: 60_000 });
}
