import { existsSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { objectPath } from '@tracefleet/bpf';
import { capabilitiesOf } from './runs/registry';
import type { HostProbe } from './runs/run-type';

export const AGENT_VERSION = '0.1.0';

export interface HostFacts {
  kernelRelease: string;
  btf: boolean;
  cpus: number;
  capabilities: string[];
}

/** What this node can run; a job type is listed only when its prerequisites (its RunType's `available`) are present. */
export function hostFacts(): HostFacts {
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  const host: HostProbe = { btf, exists: existsSync, objectBuilt };
  return { kernelRelease: release(), btf, cpus: cpus().length, capabilities: capabilitiesOf(host) };
}

function objectBuilt(name: string): boolean {
  try {
    objectPath(name);
    return true;
  } catch {
    return false;
  }
}
