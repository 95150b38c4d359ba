import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { objectPath } from '@tracefleet/bpf';

export const AGENT_VERSION = '0.1.0';

export interface HostFacts {
  kernelRelease: string;
  btf: boolean;
  cpus: number;
  capabilities: string[];
}

/** What this node can run; a job type is listed only when its prerequisites are present. */
export function hostFacts(): HostFacts {
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  const capabilities: string[] = [];
  if (btf && existsSync('/proc/kallsyms')) capabilities.push('cpu-profile');
  if (btf) capabilities.push('usdt', 'memleak');
  // TLS capture: uprobes on OpenSSL (found per target at run time) and the ssl.bpf.o object.
  if (btf && objectBuilt('ssl')) capabilities.push('ssl-capture');
  // Syscall counts: the raw_syscalls:sys_enter tracepoint (tracefs is mounted at run start if needed).
  if (btf && objectBuilt('syscount')) capabilities.push('syscount');
  return { kernelRelease: release(), btf, cpus: cpus().length, capabilities };
}

function objectBuilt(name: string): boolean {
  try {
    objectPath(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tracepoint attachment looks up event ids under tracefs, which some hosts do not mount at boot.
 * Mounts it (the agent runs as root) when missing; throws naming the command when that fails.
 */
export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events')) return;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`tracefs is not mounted and \`mount -t tracefs tracefs /sys/kernel/tracing\` failed: ${(err as Error).message}`);
  }
}
