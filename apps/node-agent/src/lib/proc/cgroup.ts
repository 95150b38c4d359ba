/**
 * Which cgroup, container and Kubernetes pod a process belongs to, as /proc/PID/cgroup tells it:
 * the labels of every sample and the matching of `{"cgroup": ...}` and `{"container": ...}` job
 * targets. Both layouts: cgroup v2 (one `0::/path` line) and v1 (one line per hierarchy, as on
 * hosts that mount /sys/fs/cgroup/<controller>), alone or side by side (hybrid).
 *
 * The text is read by a root agent but written, in part, by whoever named the cgroups: a process
 * with a delegated subtree can create names with newlines, control characters or ids that look
 * like someone else's. Parsing is bounded and drops what it cannot trust.
 */
import { readFileSync } from 'node:fs';
import { listPids, procPath } from './process';
import { ProcError, procReadError } from './proc-error';

/** Lines of /proc/PID/cgroup looked at; a real one has one per hierarchy (about 15 at most). */
export const MAX_CGROUP_LINES = 64;
/** Longest cgroup path accepted (PATH_MAX), in characters of the text and bytes of a target. */
export const MAX_CGROUP_PATH = 4096;

export interface CgroupV1Line {
  /** the hierarchy's controllers as the kernel lists them: "cpu,cpuacct", "memory", "name=systemd" */
  controllers: string;
  path: string;
}

export interface ProcessCgroups {
  /** the cgroup v2 path ("0::" line); absent when no v2 hierarchy is mounted or its line was dropped */
  v2?: string;
  v1: CgroupV1Line[];
}

/** Where a process runs, as sample labels carry it. */
export interface Origin {
  /** the most telling cgroup path (see {@link originOf}); "/" when nothing more is known */
  cgroup: string;
  /** full 64-hex container id (docker, containerd, CRI-O, podman) */
  containerId?: string;
  /** Kubernetes pod uid, lowercase with dashes */
  podUid?: string;
}

// C0, DEL and C1: never part of a label (terminal escapes), never in a valid target.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// hierarchy-id:controllers:path (the path may itself hold colons).
const CGROUP_LINE = /^(\d{1,10}):([^:]*):(\/.*)$/;
const MAX_LINE = MAX_CGROUP_PATH + 256;

/**
 * The cgroups of a /proc/PID/cgroup text. Only the first {@link MAX_CGROUP_LINES} lines count;
 * lines that do not parse, hold control characters or NUL, or a path over
 * {@link MAX_CGROUP_PATH} characters are skipped. A hierarchy id that appears twice means a
 * cgroup name held a newline (the kernel does not escape them): neither line is trusted.
 */
export function parseProcCgroup(text: string): ProcessCgroups {
  // Never scan more than the lines that can count: a longer text is cut, and its cut last line dropped.
  const limit = MAX_CGROUP_LINES * (MAX_LINE + 1);
  const truncated = text.length > limit;
  const body = truncated ? text.slice(0, limit) : text;
  const seen = new Map<string, { controllers: string; path: string }[]>();
  let start = 0;
  for (let n = 0; n < MAX_CGROUP_LINES && start < body.length; n++) {
    let end = body.indexOf('\n', start);
    const cut = end < 0 && truncated;
    if (end < 0) end = body.length;
    const line = end - start <= MAX_LINE && !cut ? body.slice(start, end) : undefined;
    start = end + 1;
    if (line === undefined || CONTROL.test(line)) continue;
    const m = CGROUP_LINE.exec(line);
    if (!m || m[3].length > MAX_CGROUP_PATH) continue;
    const [, id, controllers, path] = m;
    // v2 is hierarchy 0 with no controllers; every v1 hierarchy has controllers or a name=.
    if ((id === '0') !== (controllers === '')) continue;
    const entries = seen.get(id) ?? [];
    entries.push({ controllers, path });
    seen.set(id, entries);
  }
  const out: ProcessCgroups = { v1: [] };
  for (const [id, entries] of seen) {
    if (entries.length !== 1) continue;
    if (id === '0') out.v2 = entries[0].path;
    else out.v1.push(entries[0]);
  }
  return out;
}

/** The cgroups of `pid`; ProcError "cannot read the cgroups of pid N (/proc/N/cgroup): ..." otherwise. */
export function readProcessCgroups(pid: number): ProcessCgroups {
  const path = procPath(pid, 'cgroup');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw procReadError(pid, 'the cgroups', path, err);
  }
  return parseProcCgroup(text);
}

function v1Label(v1: CgroupV1Line[]): string {
  const pick = (want: (controllers: string[]) => boolean) => v1.find((l) => l.path !== '/' && want(l.controllers.split(',')))?.path;
  return (
    pick((c) => c.includes('name=systemd')) ??
    pick((c) => c.includes('cpu')) ??
    pick((c) => c.includes('memory')) ??
    pick(() => true) ??
    '/'
  );
}

const HEX64 = /^[0-9a-f]{64}$/;
// systemd-driver scopes of docker, containerd (CRI), CRI-O and podman; their conmon scopes
// ("crio-conmon-<id>.scope", "libpod-conmon-<id>.scope") are not the container and do not match.
const SCOPE_ID = /^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})\.scope$/;
// podman's cgroupfs manager: /libpod_parent/libpod-<id>.
const LIBPOD_CGROUPFS = /^libpod-([0-9a-f]{64})$/;
const UID = '[0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12}|[0-9a-fA-F]{32}';
// cgroupfs driver: kubepods/<qos>/pod<uid>; systemd driver: kubepods-<qos>-pod<uid with _>.slice.
// A static pod's uid is a 32-hex hash of its manifest, not a uuid.
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);
const POD_SYSTEMD = new RegExp(`^kubepods(?:-[a-z]+)?-pod(${UID})\\.slice$`);

function isKubepods(component: string): boolean {
  return component === 'kubepods' || component.startsWith('kubepods.') || component.startsWith('kubepods-');
}

/** The innermost container id among the components of a path (nested runtimes: docker in docker, kind). */
function containerIdIn(parts: string[]): string | undefined {
  const kube = parts.findIndex(isKubepods);
  for (let i = parts.length - 1; i > 0; i--) {
    const scope = SCOPE_ID.exec(parts[i]);
    if (scope) return scope[1];
    const libpod = parts[i - 1] === 'libpod_parent' ? LIBPOD_CGROUPFS.exec(parts[i]) : null;
    if (libpod) return libpod[1];
    if (HEX64.test(parts[i]) && (parts[i - 1] === 'docker' || (kube >= 0 && kube < i))) return parts[i];
  }
  return undefined;
}

function podUidIn(parts: string[]): string | undefined {
  const kube = parts.findIndex(isKubepods);
  if (kube < 0) return undefined;
  for (let i = parts.length - 1; i >= kube; i--) {
    const m = (i > kube ? POD_CGROUPFS.exec(parts[i]) : null) ?? POD_SYSTEMD.exec(parts[i]);
    if (m) return m[1].replaceAll('_', '-').toLowerCase();
  }
  return undefined;
}

/**
 * Labels of a process. `cgroup` is the v2 path unless that is "/" on a host with v1 hierarchies;
 * then the first v1 path that is not "/" of, in order, name=systemd, cpu, memory, any hierarchy.
 * `containerId` and `podUid` come from the first path (v2, then v1 in file order) that names one.
 */
export function originOf(c: ProcessCgroups): Origin {
  const cgroup = c.v2 !== undefined && (c.v2 !== '/' || c.v1.length === 0) ? c.v2 : v1Label(c.v1);
  const origin: Origin = { cgroup };
  const paths = c.v2 === undefined ? c.v1.map((l) => l.path) : [c.v2, ...c.v1.map((l) => l.path)];
  for (const path of paths) {
    if (path === '/') continue;
    const parts = path.split('/');
    const containerId = origin.containerId ?? containerIdIn(parts);
    const podUid = origin.podUid ?? podUidIn(parts);
    // Only the keys that are known: labels carry no undefined members.
    if (containerId !== undefined) origin.containerId = containerId;
    if (podUid !== undefined) origin.podUid = podUid;
    if (containerId !== undefined && podUid !== undefined) break;
  }
  return origin;
}

/**
 * `path` is `target` or below it, component by component (/a/bc is not under /a/b). "/" holds every
 * path except those the kernel shows as outside this cgroup namespace ("/../x").
 */
export function isUnderCgroup(path: string, target: string): boolean {
  if (path === '/..' || path.startsWith('/../')) return false;
  if (target === '/') return path.startsWith('/');
  return path === target || (path.startsWith(target) && path.charCodeAt(target.length) === 0x2f);
}

/** The process's v2 cgroup, or any of its v1 cgroups, is `target` or below it. */
export function processMatchesCgroup(c: ProcessCgroups, target: string): boolean {
  return (c.v2 !== undefined && isUnderCgroup(c.v2, target)) || c.v1.some((l) => isUnderCgroup(l.path, target));
}

/** The process runs in a container whose id starts with `ref` (lowercase hex, checked by the caller). */
export function processMatchesContainer(origin: Origin, ref: string): boolean {
  return ref !== '' && origin.containerId !== undefined && origin.containerId.startsWith(ref);
}

/** Why `path` is not a usable cgroup target, or undefined when it is. The message never echoes the path. */
export function validateCgroupTarget(path: string): string | undefined {
  if (typeof path !== 'string') return 'cgroup path must be a string';
  if (!path.startsWith('/')) return 'cgroup path must be absolute (start with "/")';
  if (Buffer.byteLength(path, 'utf8') > MAX_CGROUP_PATH) return `cgroup path must be at most ${MAX_CGROUP_PATH} bytes`;
  if (CONTROL.test(path)) return 'cgroup path must not contain NUL or control characters';
  if (path === '/') return undefined;
  if (path.endsWith('/')) return 'cgroup path must not end with "/" (except the root "/")';
  for (const part of path.slice(1).split('/')) {
    if (part === '') return 'cgroup path must not contain empty components ("//")';
    if (part === '.' || part === '..') return 'cgroup path must not contain "." or ".." components';
  }
  return undefined;
}

const CONTAINER_REF = /^[0-9a-f]{4,64}$/;

/** Why `ref` is not a usable container id or prefix, or undefined when it is. */
export function validateContainerRef(ref: string): string | undefined {
  if (typeof ref !== 'string' || !CONTAINER_REF.test(ref)) {
    return 'container must be a container id or a prefix of one: 4 to 64 lowercase hex characters [0-9a-f]';
  }
  return undefined;
}

export interface ProcessOrigin {
  pid: number;
  origin: Origin;
  /** what its origin was read from */
  cgroups: ProcessCgroups;
}

export interface ProcessScan {
  processes: ProcessOrigin[];
  /** processes whose cgroups could not be read for a reason other than having exited */
  unreadable: number;
}

/** How a scan reads a process's cgroups: {@link readProcessCgroups}, or a stand-in in specs. */
export type ReadCgroups = (pid: number) => ProcessCgroups;

function scan(pids: Iterable<number>, read: ReadCgroups, match: (c: ProcessCgroups, origin: Origin) => boolean): ProcessScan {
  const out: ProcessScan = { processes: [], unreadable: 0 };
  for (const pid of pids) {
    let c: ProcessCgroups;
    try {
      c = read(pid);
    } catch (err) {
      if (!(err instanceof ProcError)) throw err;
      // A process that exits between the listing and the read is not an error of the scan.
      if (err.code !== 'EGONE') out.unreadable++;
      continue;
    }
    const origin = originOf(c);
    if (match(c, origin)) out.processes.push({ pid, origin, cgroups: c });
  }
  return out;
}

/** Processes in a container whose id starts with `ref` (checked with {@link validateContainerRef}). */
export function findContainerProcesses(ref: string, pids: Iterable<number> = listPids(), read: ReadCgroups = readProcessCgroups): ProcessScan {
  return scan(pids, read, (_, origin) => processMatchesContainer(origin, ref));
}

/** Processes in cgroup `target` or below it (checked with {@link validateCgroupTarget}), in v2 or any v1 hierarchy. */
export function findCgroupProcesses(target: string, pids: Iterable<number> = listPids(), read: ReadCgroups = readProcessCgroups): ProcessScan {
  return scan(pids, read, (c) => processMatchesCgroup(c, target));
}

/** The distinct full ids, sorted, of running containers whose id starts with `ref`, and their processes. */
export function resolveContainer(ref: string, pids: Iterable<number> = listPids(), read: ReadCgroups = readProcessCgroups): { ids: string[] } & ProcessScan {
  const scan = findContainerProcesses(ref, pids, read);
  const ids = [...new Set(scan.processes.map((p) => p.origin.containerId as string))].sort();
  return { ids, ...scan };
}

const LISTED_IDS = 5;

/** Why `ids` (from {@link resolveContainer}) do not name one container, or undefined when they do. */
export function containerRefProblem(ref: string, ids: readonly string[]): string | undefined {
  if (ids.length === 0) return `no running container has an id starting with ${ref}`;
  if (ids.length === 1) return undefined;
  const listed = ids.slice(0, LISTED_IDS).join(', ');
  return `prefix ${ref} matches ${ids.length} containers: ${listed}${ids.length > LISTED_IDS ? ', ...' : ''}`;
}

export interface OriginCacheOptions {
  /** entries kept; the oldest is dropped to make room (default 65,536) */
  maxEntries?: number;
  /** reads a process's cgroups (default {@link readProcessCgroups}) */
  read?: ReadCgroups;
}

/** Comms remembered per process (its threads' names, and what it was before an exec). */
const MAX_COMMS = 64;

/**
 * The origin of each pid, read from /proc once per process, and again when it shows up under a comm not seen
 * for it before: an exec (a runtime forks, moves the child into the container's cgroup, then execs, so an
 * origin read before that names the runtime's cgroup) or a thread that named itself (read once more, cheap).
 */
export class OriginCache {
  private readonly entries = new Map<number, { origin: Origin; comms: Set<string> }>();
  private readonly maxEntries: number;
  private readonly read: ReadCgroups;

  constructor(options: OriginCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 65_536;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`OriginCache maxEntries must be a positive integer, not ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.read = options.read ?? readProcessCgroups;
  }

  /** undefined when the process is gone or unreadable (not remembered: the next call tries again). */
  originOf(pid: number, comm?: string): Origin | undefined {
    const cached = this.entries.get(pid);
    if (cached !== undefined && (comm === undefined || cached.comms.has(comm))) return cached.origin;
    let origin: Origin;
    try {
      origin = originOf(this.read(pid));
    } catch (err) {
      if (err instanceof ProcError) return cached?.origin;
      throw err;
    }
    if (cached !== undefined) {
      cached.origin = origin;
      if (cached.comms.size < MAX_COMMS) cached.comms.add(comm!);
      return origin;
    }
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(pid, { origin, comms: new Set(comm === undefined ? [] : [comm]) });
    return origin;
  }

  forget(pid: number): void {
    this.entries.delete(pid);
  }

  get size(): number {
    return this.entries.size;
  }
}
