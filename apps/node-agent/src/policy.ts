import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { AgentPolicy as PolicyMessage } from '@tracefleet/proto';
import { JOB_TYPES, type JobType } from './runs/registry';

export type { JobType } from './runs/registry';

/**
 * What this node runs, whatever the controller asks. Read once at agent start from a local file and
 * the environment; the controller is told (Register.policy) but cannot change it.
 */
export interface AgentPolicy {
  /** Job types this node runs. */
  allowJobTypes: JobType[];
  /** TLS plaintext capture: also needs 'ssl-capture' in allowJobTypes. */
  allowSslCapture: boolean;
  /** Whether an ssl-capture run may turn redaction off (plaintext credentials leave the node). */
  allowRedactionOff: boolean;
  /** Runs going at once on this node. */
  maxConcurrentRuns: number;
  /** Kernel memory the BPF maps of all running runs may take together (estimated per run), bytes. */
  maxKernelMemoryBytes: number;
  /** Longest run, seconds. */
  maxDurationSec: number;
  /** Where it came from, for the log: the file read (or "defaults") and the variables that overrode it. */
  source: string;
}

export const DEFAULT_POLICY_PATH = '/etc/tracefleet/agent.yaml';
/** A policy is a few lines; anything bigger is not one. */
const MAX_FILE_BYTES = 64 * 1024;
const MIB = 1024 * 1024;

/**
 * Defaults. ssl-capture is allowed (the controller already needs the separate capture token for it and
 * redaction happens here, on the node), but turning redaction off is not: credentials in plaintext
 * leave the node only where its owner said so. Kernel memory: 512 MiB takes a default kernel memleak
 * (1 M entries, ~126 MiB) and a few profiles, and refuses a 10 M-entry one (~1053 MiB).
 */
export const DEFAULT_POLICY: Omit<AgentPolicy, 'source'> = {
  allowJobTypes: [...JOB_TYPES],
  allowSslCapture: true,
  allowRedactionOff: false,
  maxConcurrentRuns: 16,
  maxKernelMemoryBytes: 512 * MIB,
  maxDurationSec: 3600,
};

export class PolicyError extends Error {}

interface Field {
  /** Key in the file. */
  key: keyof typeof DEFAULT_POLICY | 'maxKernelMemoryMb';
  env: string;
  kind: 'types' | 'bool' | 'int';
  min?: number;
  max?: number;
}

const FIELDS: Field[] = [
  { key: 'allowJobTypes', env: 'TRACEFLEET_AGENT_ALLOW_JOB_TYPES', kind: 'types' },
  { key: 'allowSslCapture', env: 'TRACEFLEET_AGENT_ALLOW_SSL_CAPTURE', kind: 'bool' },
  { key: 'allowRedactionOff', env: 'TRACEFLEET_AGENT_ALLOW_REDACTION_OFF', kind: 'bool' },
  { key: 'maxConcurrentRuns', env: 'TRACEFLEET_AGENT_MAX_CONCURRENT_RUNS', kind: 'int', min: 1, max: 256 },
  // Whole MiB up to 1 TiB: bytes would overflow nothing here, but a number that large is a typo.
  { key: 'maxKernelMemoryMb', env: 'TRACEFLEET_AGENT_MAX_KERNEL_MEMORY_MB', kind: 'int', min: 1, max: 1024 * 1024 },
  { key: 'maxDurationSec', env: 'TRACEFLEET_AGENT_MAX_DURATION_SEC', kind: 'int', min: 1, max: 86400 },
];

function checkInt(where: string, v: unknown, f: Field): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < f.min! || v > f.max!) {
    throw new PolicyError(`${where}: ${JSON.stringify(v) ?? String(v)} is not an integer in [${f.min}, ${f.max}]`);
  }
  return v;
}

function checkTypes(where: string, v: unknown): JobType[] {
  if (!Array.isArray(v) || v.length > JOB_TYPES.length * 4) throw new PolicyError(`${where}: want a list of job types (${JOB_TYPES.join(', ')})`);
  for (const t of v) {
    if (typeof t !== 'string' || !(JOB_TYPES as readonly string[]).includes(t)) {
      throw new PolicyError(`${where}: ${JSON.stringify(t) ?? String(t)} is not a job type (${JOB_TYPES.join(', ')})`);
    }
  }
  return [...new Set(v as JobType[])];
}

function apply(policy: Omit<AgentPolicy, 'source'>, f: Field, where: string, v: unknown): void {
  if (f.kind === 'types') policy.allowJobTypes = checkTypes(where, v);
  else if (f.kind === 'bool') {
    if (typeof v !== 'boolean') throw new PolicyError(`${where}: ${JSON.stringify(v) ?? String(v)} is not true or false`);
    (policy as unknown as Record<string, boolean>)[f.key] = v;
  } else if (f.key === 'maxKernelMemoryMb') policy.maxKernelMemoryBytes = checkInt(where, v, f) * MIB;
  else (policy as unknown as Record<string, number>)[f.key] = checkInt(where, v, f);
}

/**
 * Parses a policy file's text. Unknown keys, wrong types, out-of-range numbers, aliases, tags and
 * more than one document are errors naming the key: a policy that says something we do not
 * understand must not be half-applied.
 */
export function parsePolicyText(text: string, file: string): Omit<AgentPolicy, 'source'> {
  let doc: unknown;
  try {
    // No aliases at all (a policy needs none, and they are how "billion laughs" files expand);
    // core schema: no custom or binary tags; duplicate keys are errors.
    const opts = { maxAliasCount: 0, uniqueKeys: true, schema: 'core', merge: false, prettyErrors: false, strict: true } as const;
    const parsed = parseDocument(text, opts);
    // Warnings too: an unknown tag (`!foo`) is only a warning to the library, and a setting we do not understand.
    const problem = parsed.errors[0] ?? parsed.warnings[0];
    if (problem) throw problem;
    doc = parsed.toJS({ maxAliasCount: 0 });
  } catch (err) {
    throw new PolicyError(`${file}: not a valid policy file: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
  }
  const policy = { ...DEFAULT_POLICY, allowJobTypes: [...DEFAULT_POLICY.allowJobTypes] };
  if (doc === null || doc === undefined) return policy; // an empty file: the defaults
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new PolicyError(`${file}: want a mapping of settings at the top level`);
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const f = FIELDS.find((x) => x.key === key);
    if (!f) throw new PolicyError(`${file}: unknown key "${key}" (known: ${FIELDS.map((x) => x.key).join(', ')})`);
    apply(policy, f, `${file}: ${key}`, value);
  }
  return policy;
}

/** Reads a policy file: a regular file, at most 64 KiB; a FIFO or a device would block or never end. */
export function readPolicyFile(path: string): string {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not hang the agent's start.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new PolicyError(`${path}: cannot read the policy file: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PolicyError(`${path}: the policy file is not a regular file`);
    // Like sshd's StrictModes: a policy someone else may rewrite restricts nothing.
    const uid = process.getuid?.() ?? 0;
    if (st.uid !== 0 && st.uid !== uid) throw new PolicyError(`${path}: the policy file belongs to uid ${st.uid}, not root`);
    if (st.mode & 0o022) throw new PolicyError(`${path}: the policy file is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
    if (st.size > MAX_FILE_BYTES) throw new PolicyError(`${path}: the policy file is ${st.size} bytes (at most ${MAX_FILE_BYTES})`);
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let len = 0;
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
      if (len > MAX_FILE_BYTES) throw new PolicyError(`${path}: the policy file grew past ${MAX_FILE_BYTES} bytes while read`);
    }
    const text = buf.subarray(0, len).toString('utf8');
    if (text.includes('\uFFFD')) throw new PolicyError(`${path}: the policy file is not UTF-8 text`);
    return text;
  } catch (err) {
    if (err instanceof PolicyError) throw err;
    throw new PolicyError(`${path}: cannot read the policy file: ${(err as NodeJS.ErrnoException).code ?? err}`);
  } finally {
    closeSync(fd);
  }
}

function envValue(f: Field, raw: string): unknown {
  if (f.kind === 'types') return raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (f.kind === 'bool') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return /^\d{1,16}$/.test(raw) ? Number(raw) : raw;
}

/**
 * The node's policy: the file named by TRACEFLEET_AGENT_POLICY (or /etc/tracefleet/agent.yaml when it
 * exists; a path given explicitly must exist), then each TRACEFLEET_AGENT_* variable set overrides its
 * key. Any problem throws a PolicyError naming the file or variable and the key: the agent does not start.
 */
export function loadPolicy(env: NodeJS.ProcessEnv, exists: (p: string) => boolean): AgentPolicy {
  const explicit = env.TRACEFLEET_AGENT_POLICY;
  const path = explicit || DEFAULT_POLICY_PATH;
  const sources: string[] = [];
  let policy = { ...DEFAULT_POLICY, allowJobTypes: [...DEFAULT_POLICY.allowJobTypes] };
  if (explicit || exists(path)) {
    policy = parsePolicyText(readPolicyFile(path), path);
    sources.push(path);
  }
  for (const f of FIELDS) {
    const raw = env[f.env];
    if (raw === undefined || raw === '') continue;
    apply(policy, f, f.env, envValue(f, raw.trim()));
    sources.push(f.env);
  }
  return { ...policy, source: sources.length ? sources.join(', ') : 'defaults' };
}

/** One line for the log. */
export function describePolicy(p: AgentPolicy): string {
  return (
    `policy (${p.source}): job types ${p.allowJobTypes.join(', ') || 'none'}; ssl-capture ${p.allowSslCapture ? 'allowed' : 'refused'}; ` +
    `redaction off ${p.allowRedactionOff ? 'allowed' : 'refused'}; at most ${p.maxConcurrentRuns} runs, ` +
    `${Math.round(p.maxKernelMemoryBytes / MIB)} MiB of kernel memory, ${p.maxDurationSec} s`
  );
}

/** Register.policy: what the controller is told, so it places jobs where they will be admitted. */
export function policyMessage(p: AgentPolicy): PolicyMessage {
  return {
    allowJobTypes: [...p.allowJobTypes],
    allowSslCapture: p.allowSslCapture,
    allowRedactionOff: p.allowRedactionOff,
    maxConcurrentRuns: p.maxConcurrentRuns,
    maxKernelMemoryBytes: BigInt(p.maxKernelMemoryBytes),
    maxDurationSec: p.maxDurationSec,
  };
}
