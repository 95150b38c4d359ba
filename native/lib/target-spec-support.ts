// Helpers for the job-target specs: a cgroup v2 of the test's own on a private cgroup2 mount, and the
// CPU- and syscall-bound programs they put in it or leave outside.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { TargetCgroup } from './index';
import { sleep, tempDir } from './spec-support';

/**
 * A cgroup v2 made for one test: `<mount>/<unique name>`, at level 1 (the mount is the hierarchy's root: the
 * specs run as root in the initial cgroup namespace). The v2 hierarchy exists whether or not anything mounts
 * it (on a host that mounts only v1 hierarchies every task sits in its root), and the BPF cgroup helpers read
 * it; mounting it once more, here, is harmless where it is mounted already.
 */
export class TestCgroup {
  readonly mount: string;
  readonly dir: string;
  readonly #children: string[] = [];

  constructor(name: string) {
    this.mount = tempDir('cgroup2');
    try {
      execFileSync('mount', ['-t', 'cgroup2', 'none', this.mount], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      fs.rmSync(this.mount, { recursive: true, force: true });
      throw new Error(`mount -t cgroup2 none ${this.mount} failed (the cgroup specs need root and a kernel with cgroup v2): ${String(err)}`);
    }
    this.dir = path.join(this.mount, `tracefleet-${name}-${process.pid}-${Date.now()}`);
    this.mkdir(this.dir);
  }

  /** The cgroup's id: its directory's inode number. */
  get id(): bigint {
    return fs.statSync(this.dir, { bigint: true }).ino;
  }

  get target(): TargetCgroup {
    return { id: this.id, level: 1 };
  }

  /** A cgroup below this one (level 2), removed with it. */
  child(name: string): string {
    const dir = path.join(this.dir, name);
    this.mkdir(dir);
    return dir;
  }

  /** Moves a process (all its threads) into `dir` (default: this cgroup) and checks the kernel says so. */
  add(pid: number, dir = this.dir): void {
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    assert.equal(line, `0::/${path.relative(this.mount, dir)}`, `pid ${pid} is not in ${dir}`);
  }

  /**
   * Moves what is still inside back to the root cgroup, removes the cgroups, unmounts and deletes the mount point.
   * Killing the processes is the caller's part; this leaves nothing behind either way.
   */
  async close(): Promise<void> {
    const dirs = [...this.#children].reverse(); // deepest first
    for (const dir of dirs) {
      for (const pid of this.procs(dir)) {
        try {
          fs.writeFileSync(path.join(this.mount, 'cgroup.procs'), String(pid));
        } catch {
          // exited meanwhile
        }
      }
    }
    try {
      for (const dir of dirs) await removeCgroup(dir);
    } finally {
      execFileSync('umount', [this.mount]);
      fs.rmSync(this.mount, { recursive: true, force: true });
    }
  }

  private procs(dir: string): number[] {
    try {
      return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  private mkdir(dir: string): void {
    fs.mkdirSync(dir);
    this.#children.push(dir);
  }
}

/** rmdir, which says EBUSY for a moment after the last process left (its exit is not finished yet). */
async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || attempt >= 50) throw err;
      await sleep(20);
    }
  }
}

/**
 * Mounts tracefs at /sys/kernel/tracing unless it is there (libbpf reads tracepoint ids from it: syscount, memleak's
 * kernel mode); returns what undoes that.
 */
export function ensureTracefs(): () => void {
  if (fs.existsSync('/sys/kernel/tracing/events')) return () => {};
  execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  return () => execFileSync('umount', ['/sys/kernel/tracing']);
}

/** Waits for a line on stdin, makes n getppid calls, says "done", waits for stdin to close. */
export const SYSCALLER_SOURCE = `
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char line[16];
  puts("ready"); fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) return 1;
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  puts("done"); fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {}
  return 0;
}
`;
export const NR_GETPPID = 110; // x86-64
