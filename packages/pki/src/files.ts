import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, writeSync, constants } from 'node:fs';
import { dirname } from 'node:path';

/** A directory for keys: created 0700, and an existing one must not be group/world accessible or a symlink. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/**
 * Writes a secret (a private key) with mode 0600 from its first byte: a temporary file created with
 * O_EXCL|O_NOFOLLOW in the same directory, fsynced, then renamed over the target, so a reader never
 * sees half a key and a planted symlink is never followed.
 */
export function writePrivateFile(path: string, data: string | Uint8Array, mode = 0o600): void {
  ensurePrivateDir(dirname(path));
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Refuses a key file that others could read or replace: not a regular file, or group/world bits set. */
export function checkPrivateFile(path: string): void {
  const st = lstatSync(path);
  if (!st.isFile()) throw new Error(`${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) throw new Error(`${path} has mode ${(st.mode & 0o777).toString(8)}; a private key must be 0600`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error(`${path} is owned by uid ${st.uid}, not by this process (uid ${process.getuid()})`);
}
