/**
 * Opening files whose path came from the controller (a job's binary, a usdt listing) or from a
 * traced process (its maps, its libc). The agent is root: open() alone can act on the machine (a
 * FIFO blocks the event loop until a writer comes, a device runs its driver's open: a watchdog arms
 * itself) and reading can cost without bound. Only regular files are opened for reading:
 *
 * 1. open(path, O_PATH): no driver open, no FIFO wait; fstat that descriptor, refuse anything but a
 *    regular file, and files on pseudo file systems (proc, sys, debugfs, ...) whose reads act;
 * 2. reopen the same inode through /proc/self/fd/N with O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC (no
 *    window in which the path can be swapped for something else), fstat again;
 * 3. read bounded sizes.
 *
 * An error names the reason ("not a regular file (FIFO)", "larger than 64 MiB") and never the size
 * or content of a file it refused. native/src/safe_open.cc applies the same rules in the addon.
 */
import * as fs from 'node:fs';

/** Linux's O_PATH (x86-64, arm64); node's fs.constants does not list it, libuv passes it through. */
const O_PATH = 0o10000000;
const { O_RDONLY, O_NONBLOCK, O_NOCTTY } = fs.constants;

/** statfs f_type of file systems whose regular files are kernel interfaces, not data. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x62656570, 'configfs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0xde5e81e4, 'efivarfs'],
  [0x6165676c, 'pstore'],
]);

export type FileRefusedCode = 'ENOTREG' | 'EPSEUDOFS' | 'ETOOBIG' | 'EOPEN';

export class FileRefused extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly code: FileRefusedCode,
    /** errno code of a failed open (ENOENT, EACCES, ...) */
    readonly errno?: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'FileRefused';
  }
}

export function fileKind(st: fs.Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isFIFO()) return 'FIFO';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isDirectory()) return 'directory';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'unknown file type';
}

function sizeText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

export interface RegularFile {
  fd: number;
  stat: fs.Stats;
  path: string;
}

function checkStat(path: string, st: fs.Stats, maxBytes: number | undefined): void {
  if (!st.isFile()) throw new FileRefused(path, `not a regular file (${fileKind(st)})`, 'ENOTREG');
  if (maxBytes !== undefined && st.size > maxBytes) throw new FileRefused(path, `larger than ${sizeText(maxBytes)}`, 'ETOOBIG');
}

/**
 * Opens `path` for reading when it is a regular file (of at most maxBytes); throws FileRefused
 * otherwise. The caller closes `fd` (or uses {@link withRegularFile}).
 */
export function openRegular(path: string, maxBytes?: number): RegularFile {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) throw new FileRefused(String(path), 'not a valid path', 'EOPEN');
  let handle: number;
  try {
    handle = fs.openSync(path, O_PATH);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileRefused(path, code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code ?? (err as Error).message})`, 'EOPEN', code);
  }
  try {
    checkStat(path, fs.fstatSync(handle), maxBytes);
    const self = `/proc/self/fd/${handle}`;
    const fsType = PSEUDO_FS.get(Number(fs.statfsSync(self).type));
    if (fsType !== undefined) throw new FileRefused(path, `on a pseudo file system (${fsType}), not a data file`, 'EPSEUDOFS');
    const fd = fs.openSync(self, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    try {
      const st = fs.fstatSync(fd);
      const first = fs.fstatSync(handle);
      if (st.dev !== first.dev || st.ino !== first.ino) throw new FileRefused(path, 'changed while it was opened', 'ENOTREG');
      checkStat(path, st, maxBytes);
      return { fd, stat: st, path };
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  } catch (err) {
    if (err instanceof FileRefused) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileRefused(path, `cannot be opened (${code ?? (err as Error).message})`, 'EOPEN', code);
  } finally {
    fs.closeSync(handle);
  }
}

/** Runs fn on the opened regular file and closes it, whatever fn does. */
export function withRegularFile<T>(path: string, maxBytes: number | undefined, fn: (file: RegularFile) => T): T {
  const file = openRegular(path, maxBytes);
  try {
    return fn(file);
  } finally {
    fs.closeSync(file.fd);
  }
}

/** Up to `length` bytes at `offset` (fewer at the end of the file). */
export function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

type ReadChunk = (fd: number, buf: Buffer, offset: number, length: number, position: number) => number;

/**
 * The whole of a regular file of at most maxBytes. A file that grows past maxBytes while it is
 * read is refused as well (at most maxBytes + 1 bytes are ever read). `readChunk` is fs.readSync;
 * specs replace it to act between reads.
 */
export function readRegularFile(path: string, maxBytes: number, readChunk: ReadChunk = fs.readSync): Buffer {
  return withRegularFile(path, maxBytes, ({ fd, stat }) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const chunkSize = Math.min(Math.max(stat.size, 4096), 1 << 20);
    for (;;) {
      const buf = Buffer.alloc(Math.min(chunkSize, maxBytes + 1 - total));
      const n = readChunk(fd, buf, 0, buf.length, total);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw new FileRefused(path, `larger than ${sizeText(maxBytes)} (it grew while read)`, 'ETOOBIG');
    }
    return Buffer.concat(chunks, total);
  });
}
