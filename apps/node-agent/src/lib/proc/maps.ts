/** /proc/PID/maps: the one parser of the agent (native/ has its own in C++). */
import { readFileSync } from 'node:fs';
import { procPath } from './process';
import { procReadError } from './proc-error';

export interface MapEntry {
  /** start and end address as the kernel prints them (hex, no 0x): /proc/PID/map_files names use them */
  start: string;
  end: string;
  startAddr: bigint;
  endAddr: bigint;
  perms: string;
  /** file offset of the mapping's start */
  offset: bigint;
  dev: string;
  inode: number;
  /** the mapped file's path, without the kernel's " (deleted)" suffix */
  path: string;
  /** the file was unlinked (or replaced) since it was mapped */
  deleted: boolean;
}

// address perms offset dev inode pathname; the pathname may contain spaces.
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)\s+(\/.*)$/;
const DELETED = ' (deleted)';

/** The file-backed mappings of a maps text (anonymous and special ones, [heap], [stack] ..., are left out). */
export function parseMaps(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  for (const line of text.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    const deleted = m[7].endsWith(DELETED);
    out.push({
      start: m[1],
      end: m[2],
      startAddr: BigInt(`0x${m[1]}`),
      endAddr: BigInt(`0x${m[2]}`),
      perms: m[3],
      offset: BigInt(`0x${m[4]}`),
      dev: m[5],
      inode: Number(m[6]),
      path: deleted ? m[7].slice(0, -DELETED.length) : m[7],
      deleted,
    });
  }
  return out;
}

/** The file-backed mappings of `pid`; ProcError "cannot read the memory maps of pid N (/proc/N/maps): ..." otherwise. */
export function readMaps(pid: number): MapEntry[] {
  const path = procPath(pid, 'maps');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw procReadError(pid, 'the memory maps', path, err);
  }
  return parseMaps(text);
}

/**
 * A path the agent can open for a file `pid` maps: through /proc/PID/root (the process's mount
 * namespace), or /proc/PID/map_files for a deleted file.
 */
export function mappedFilePath(pid: number, m: MapEntry): string {
  // map_files names carry no leading zeros, where maps pads addresses to 8 digits (a non-PIE executable at 00400000).
  return m.deleted ? procPath(pid, `map_files/${m.startAddr.toString(16)}-${m.endAddr.toString(16)}`) : procRootPath(pid, m.path);
}

/** `path` of `pid`'s mount namespace as the agent can open it. */
export function procRootPath(pid: number, path: string): string {
  return `${procPath(pid, 'root')}${path}`;
}
