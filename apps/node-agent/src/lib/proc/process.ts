/** Processes as /proc shows them: pids, comm, thread groups, executables, cgroups and namespaces. */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { ProcError, procReadError } from './proc-error';

/** `/proc/PID/<file>`; ProcError EINVAL when `pid` is not a positive integer. */
export function procPath(pid: number, file: string): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new ProcError('EINVAL', pid, `invalid pid ${pid}`);
  return `/proc/${pid}/${file}`;
}

/** Every pid in /proc (processes; their threads are not listed there). */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

export function processExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** The process's comm (at most MAX_COMM_BYTES, lib/kernel-limits.ts); undefined when it is gone or unreadable. */
export function readComm(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return undefined;
  }
}

/** Processes whose comm is exactly `comm`, leaving out `except` (e.g. the agent itself). */
export function pidsWithComm(comm: string, except?: number): number[] {
  const pids: number[] = [];
  for (const pid of listPids()) {
    if (pid !== except && readComm(pid) === comm) pids.push(pid);
  }
  return pids;
}

/** The thread group (process) a pid or thread id belongs to; undefined when it is gone. */
export function tgidOf(pid: number): number | undefined {
  try {
    const m = /^Tgid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path of the process's executable as the kernel names it (with " (deleted)" when it was
 * unlinked); ProcError "cannot read the executable of pid N (/proc/N/exe): ..." (errno ENOENT for
 * kernel threads and vanished processes).
 */
export function readExe(pid: number): string {
  const path = procPath(pid, 'exe');
  try {
    return readlinkSync(path);
  } catch (err) {
    throw procReadError(pid, 'the executable', path, err);
  }
}

export type NamespaceKind = 'cgroup' | 'ipc' | 'mnt' | 'net' | 'pid' | 'time' | 'user' | 'uts';

/** The inode number that identifies the process's namespace of `kind` (as in "mnt:[4026531841]"); ProcError when unreadable. */
export function namespaceId(pid: number, kind: NamespaceKind): bigint {
  const path = procPath(pid, `ns/${kind}`);
  let link: string;
  try {
    link = readlinkSync(path);
  } catch (err) {
    throw procReadError(pid, `the ${kind} namespace`, path, err);
  }
  const m = /\[(\d+)\]$/.exec(link);
  if (!m) throw new ProcError('EREAD', pid, `cannot read the ${kind} namespace of pid ${pid} (${path}): unexpected link ${link}`);
  return BigInt(m[1]);
}
