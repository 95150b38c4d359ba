/**
 * Where the cgroup hierarchies are mounted (/proc/self/mountinfo) and what a cgroup path is on
 * them: whether it exists, and the cgroup v2 id that BPF programs compare against.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync, realpathSync, statfsSync, type BigIntStats } from 'node:fs';
import { validateCgroupTarget } from './cgroup';

/** statfs f_type of cgroup v2 and v1 file systems (linux/magic.h), as src/safe-file.ts reads it. */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
export const CGROUP_SUPER_MAGIC = 0x27e0eb;

export interface MountEntry {
  /** the mounted directory's path inside its file system ("/" for the whole of it) */
  root: string;
  mountPoint: string;
  fsType: string;
  /** per-superblock options: for cgroup v1 "rw,cpu,cpuacct", "rw,name=systemd" */
  superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mounts of a mountinfo text: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE
 * SOURCE SUPEROPTIONS". Lines that do not have that shape are skipped.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({ root: unescapeOctal(f[3]), mountPoint: unescapeOctal(f[4]), fsType: f[sep + 1], superOptions: f[sep + 3] });
  }
  return out;
}

function readMountinfo(): string | undefined {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
}

// Only mounts of a hierarchy's root: under a bind mount of a sub-cgroup, mount + path would name
// another cgroup than the path /proc/PID/cgroup gives.
function cgroupMounts(fsType: string, mountinfo: string | undefined): MountEntry[] {
  const text = mountinfo ?? readMountinfo();
  return text === undefined ? [] : parseMountinfo(text).filter((m) => m.fsType === fsType && m.root === '/');
}

/** The first mount point of the cgroup v2 hierarchy (default: this process's /proc/self/mountinfo); undefined when none. */
export function findCgroup2Mount(mountinfo?: string): string | undefined {
  return cgroupMounts('cgroup2', mountinfo)[0]?.mountPoint;
}

// Super options of a v1 cgroup mount that are not controllers (kernel/cgroup/cgroup-v1.c).
const V1_OPTIONS = new Set(['rw', 'ro', 'none', 'all', 'noprefix', 'xattr', 'clone_children', 'cpuset_v2_mode', 'favordynmods']);

/** Each v1 controller ("cpu", "memory", "name=systemd", ...) and the first mount point of its hierarchy. */
export function findCgroupV1Mounts(mountinfo?: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of cgroupMounts('cgroup', mountinfo)) {
    for (const opt of m.superOptions.split(',')) {
      if (opt === '' || V1_OPTIONS.has(opt) || (opt.includes('=') && !opt.startsWith('name='))) continue;
      if (!out.has(opt)) out.set(opt, m.mountPoint);
    }
  }
  return out;
}

/**
 * The stat of directory `target` on the file system mounted at `mount` when it is a directory of a
 * file system with `magic`, reached without a symbolic link: the directory is opened once and
 * what was opened is checked, so nothing can be swapped in between.
 */
function statCgroupDir(mount: string, target: string, magic: number): BigIntStats | undefined {
  let base: string;
  try {
    base = realpathSync(mount);
  } catch {
    return undefined;
  }
  const expected = `${base === '/' ? '' : base}${target === '/' ? '' : target}` || '/';
  let fd: number;
  try {
    // O_DIRECTORY fails on anything else before the open reaches a driver or a FIFO.
    fd = openSync(expected, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return undefined;
  }
  try {
    const self = `/proc/self/fd/${fd}`;
    if (readlinkSync(self) !== expected) return undefined;
    if (Number(statfsSync(self).type) !== magic) return undefined;
    return fstatSync(fd, { bigint: true });
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Number of components of a cgroup path: "/" is 0, "/a/b" is 2 (the level BPF's ancestor helpers take). */
export function cgroupLevel(target: string): number {
  return target === '/' ? 0 : target.split('/').length - 1;
}

/**
 * The cgroup v2 id of `target` (its inode number on cgroup2, what bpf_get_current_cgroup_id and
 * bpf_get_current_ancestor_cgroup_id return on 64-bit kernels) and its level; undefined when the
 * path is not valid, no cgroup2 is mounted, or `target` is not a cgroup directory on it.
 */
export function cgroupV2Id(target: string, mount: string | undefined = findCgroup2Mount()): { id: bigint; level: number } | undefined {
  if (mount === undefined || validateCgroupTarget(target) !== undefined) return undefined;
  const st = statCgroupDir(mount, target, CGROUP2_SUPER_MAGIC);
  return st === undefined ? undefined : { id: st.ino, level: cgroupLevel(target) };
}

/** `target` is a cgroup on the cgroup2 hierarchy or on any v1 hierarchy (default: as /proc/self/mountinfo mounts them). */
export function cgroupExists(target: string, mountinfo: string | undefined = readMountinfo()): boolean {
  if (mountinfo === undefined || validateCgroupTarget(target) !== undefined) return false;
  const v2 = findCgroup2Mount(mountinfo);
  if (v2 !== undefined && statCgroupDir(v2, target, CGROUP2_SUPER_MAGIC) !== undefined) return true;
  for (const mount of new Set(findCgroupV1Mounts(mountinfo).values())) {
    if (statCgroupDir(mount, target, CGROUP_SUPER_MAGIC) !== undefined) return true;
  }
  return false;
}
