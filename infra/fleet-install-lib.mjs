// Shared by infra/systemd.test.mjs and infra/k8s.test.mjs: the repository root, the agent's capability set
// (the same in systemd and Kubernetes; the unit's comments say why each) and a runner that fails loudly when a
// tool the checks need is missing.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
export const systemdDir = join(root, 'infra/systemd');
export const k8sDir = join(root, 'infra/k8s');
export const read = (p) => readFileSync(join(root, p), 'utf8');

export const AGENT_CAPS = ['BPF', 'PERFMON', 'SYS_RESOURCE', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG', 'KILL', 'DAC_OVERRIDE'];

export function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (res.error) throw new Error(`${cmd} could not run (${res.error.code ?? res.error.message}): it is required by this test, install it`);
  return res;
}
