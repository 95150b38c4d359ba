/**
 * Reading a traced process's memory through /proc/PID/mem. What comes back is the process's to
 * choose: callers bound every length they ask for and check what they read.
 */
import * as fs from 'node:fs';

/** `length` bytes at `addr` of `pid`'s memory, or undefined when any of them cannot be read. */
export type MemoryReader = (pid: number, addr: bigint, length: number) => Buffer | undefined;

/** No single read asks for more (a name of 1024 UCS-4 characters is 4 KiB). */
export const MAX_MEMORY_READ = 64 * 1024;
/** Past the user half of x86-64's address space nothing is the process's. */
const USER_LIMIT = 1n << 47n;

function readFd(fd: number, addr: bigint, length: number): Buffer | undefined {
  if (!Number.isInteger(length) || length < 0 || length > MAX_MEMORY_READ) return undefined;
  if (addr <= 0n || addr + BigInt(length) > USER_LIMIT) return undefined;
  const buf = Buffer.alloc(length);
  let done = 0;
  try {
    while (done < length) {
      const n = fs.readSync(fd, buf, done, length - done, addr + BigInt(done));
      if (n === 0) return undefined;
      done += n;
    }
  } catch {
    return undefined; // EIO: unmapped; ESRCH: gone
  }
  return buf;
}

/** One read: opens /proc/PID/mem and closes it again (detection reads a few words per process). */
export function readProcessMemory(pid: number, addr: bigint, length: number): Buffer | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  } catch {
    return undefined;
  }
  try {
    return readFd(fd, addr, length);
  } finally {
    fs.closeSync(fd);
  }
}

/** Processes whose /proc/PID/mem stays open at most; the least recently read one is closed first. */
const MAX_OPEN = 256;

/**
 * /proc/PID/mem kept open per pid, for many small reads (names of code objects). A pid's descriptor
 * reads the process it was opened on even after the pid is reused, so the owner forgets a pid when
 * its process ends.
 */
export class ProcMemory {
  private fds = new Map<number, number>();

  constructor(private readonly maxOpen = MAX_OPEN) {}

  readonly read: MemoryReader = (pid, addr, length) => {
    const fd = this.fdOf(pid);
    return fd === undefined ? undefined : readFd(fd, addr, length);
  };

  forget(pid: number): void {
    const fd = this.fds.get(pid);
    if (fd === undefined) return;
    this.fds.delete(pid);
    fs.closeSync(fd);
  }

  close(): void {
    for (const pid of [...this.fds.keys()]) this.forget(pid);
  }

  /** Descriptors open now. */
  get open(): number {
    return this.fds.size;
  }

  private fdOf(pid: number): number | undefined {
    const fd = this.fds.get(pid);
    if (fd !== undefined) {
      this.fds.delete(pid); // re-inserted last: Map order is the recency order
      this.fds.set(pid, fd);
      return fd;
    }
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    let opened: number;
    try {
      opened = fs.openSync(`/proc/${pid}/mem`, 'r');
    } catch {
      return undefined;
    }
    if (this.fds.size >= this.maxOpen) this.forget(this.fds.keys().next().value!);
    this.fds.set(pid, opened);
    return opened;
  }
}
