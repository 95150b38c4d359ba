// infra/systemd/*.service checked offline (no systemd as PID 1): they pass `systemd-analyze verify` with no
// warning at all, in a temporary root that holds the files the units name (see makeRoot), and keep their
// hardening and capabilities; the env templates document every variable. Each checker is also run on a broken
// copy, to prove it can fail. A missing tool fails the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { parseAllDocuments } from 'yaml';
import { AGENT_CAPS, k8sDir, read, root, run, systemdDir } from './fleet-install-lib.mjs';

// The V8 flags every launcher of the agent passes (apps/node-agent/src/node-flags.ts; built by `npx turbo run build`).
const { AGENT_NODE_FLAGS } = createRequire(import.meta.url)('../apps/node-agent/dist/node-flags.js');

const UNITS = ['tracefleet-controller.service', 'tracefleet-agent.service'];

// ---------------------------------------------------------------- systemd

/**
 * `systemd-analyze verify --root=DIR` (systemd 252 here) loads units from DIR's unit paths and checks that
 * ExecStart binaries exist and are executable inside DIR, so DIR gets: the host's own unit files (for
 * sysinit.target, basic.target, network-online.target...) in usr/lib/systemd/system, our units in
 * etc/systemd/system, and the bundle's layout (/opt/tracefleet/node/bin/node, main.js files,
 * /etc/tracefleet/*.env and pki/). --man=no and --generators=no keep it offline and from touching the host.
 */
function makeRoot({ units, withNode = true }) {
  const dir = mkdtempSync(join(tmpdir(), 'tf-systemd-'));
  cpSync(realpathSync('/lib/systemd/system'), join(dir, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(dir, 'etc/systemd/system'), { recursive: true });
  for (const [name, text] of Object.entries(units)) writeFileSync(join(dir, 'etc/systemd/system', name), text);
  for (const d of ['opt/tracefleet/node/bin', 'opt/tracefleet/controller', 'opt/tracefleet/agent', 'etc/tracefleet/pki', 'var/lib/tracefleet']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  if (withNode) {
    writeFileSync(join(dir, 'opt/tracefleet/node/bin/node'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, 'opt/tracefleet/node/bin/node'), 0o755);
  }
  for (const f of ['opt/tracefleet/controller/main.js', 'opt/tracefleet/agent/main.js']) writeFileSync(join(dir, f), '');
  for (const f of ['etc/tracefleet/controller.env', 'etc/tracefleet/agent.env', 'etc/tracefleet/pki/ca.pem', 'etc/tracefleet/pki/ca.key']) {
    writeFileSync(join(dir, f), '', { mode: 0o600 });
  }
  return dir;
}

function verifyUnits(units, opts = {}) {
  const dir = makeRoot({ units, ...opts });
  try {
    const res = run('systemd-analyze', ['verify', `--root=${dir}`, '--man=no', '--generators=no', ...Object.keys(units)]);
    return { status: res.status, out: `${res.stdout}${res.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function unitTexts() {
  return Object.fromEntries(UNITS.map((u) => [u, readFileSync(join(systemdDir, u), 'utf8')]));
}

/** Key → every value it is given (in order), comments and sections ignored; no continuation lines are used. */
function directives(text) {
  const map = new Map();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    map.set(m[1], [...(map.get(m[1]) ?? []), m[2]]);
  }
  return map;
}
const last = (d, k) => d.get(k)?.at(-1);

// Linux's capabilities (include/uapi/linux/capability.h, 0 … 40).
const LINUX_CAPS = new Set(['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO',
  'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND',
  'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'].map((c) => `CAP_${c}`));

/** Capability names systemd would silently ignore (it only logs them at debug level). */
function capabilityProblems(text) {
  const d = directives(text);
  return ['CapabilityBoundingSet', 'AmbientCapabilities'].flatMap((k) =>
    (d.get(k) ?? []).flatMap((v) => v.replace(/^~/, '').split(/\s+/).filter(Boolean).filter((c) => !LINUX_CAPS.has(c)).map((c) => `${k}: unknown capability ${c}`)),
  );
}

test('systemd-analyze is there (the unit checks need it)', () => {
  const res = run('systemd-analyze', ['--version']);
  assert.equal(res.status, 0, res.stderr);
  const version = Number(/systemd (\d+)/.exec(res.stdout)?.[1]);
  // --root for verify, --offline for security, LoadCredential's %d, PrivateIPC=, ProtectProc=: 247+ (Debian 12: 252).
  assert.ok(version >= 247, `systemd ${version}: the units use options of systemd 247+`);
});

test('both units pass systemd-analyze verify with no warning', () => {
  const { status, out } = verifyUnits(unitTexts());
  assert.equal(status, 0, out);
  // An unknown key or a bad value is only a warning (exit 0): any output at all fails.
  assert.equal(out, '', `systemd-analyze verify printed:\n${out}`);
});

test('verify catches a misspelt option, a bad value and a missing binary (the check can fail)', () => {
  const agent = unitTexts()['tracefleet-agent.service'];
  const misspelt = verifyUnits({ 'tracefleet-agent.service': agent.replace('ProtectSystem=strict', 'ProtectSytem=strict') });
  assert.match(misspelt.out, /Unknown key 'ProtectSytem'/);
  const badValue = verifyUnits({ 'tracefleet-agent.service': agent.replace('ProtectSystem=strict', 'ProtectSystem=strictly') });
  assert.match(badValue.out, /Failed to parse protect system value, ignoring: strictly/);
  // systemd 252 drops an unknown capability name silently (debug log only, exit 0, no output):
  // capabilityProblems below is what catches a misspelt one.
  const badCap = agent.replace(/^CapabilityBoundingSet=CAP_BPF /m, 'CapabilityBoundingSet=CAP_PERFMOM CAP_BPF ');
  assert.match(capabilityProblems(badCap).join('\n'), /CAP_PERFMOM/);
  const noNode = verifyUnits({ 'tracefleet-agent.service': agent }, { withNode: false });
  assert.notEqual(noNode.status, 0);
  assert.match(noNode.out, /\/opt\/tracefleet\/node\/bin\/node is not executable/);
});

test('the units keep the bundle contract: paths, env files, state directory, restarts', () => {
  const { 'tracefleet-controller.service': ctl, 'tracefleet-agent.service': agent } = unitTexts();
  const c = directives(ctl);
  const a = directives(agent);
  // The controller's heap is bounded (docs/ARCHITECTURE.md, "Memory under a flood").
  assert.deepEqual(c.get('ExecStart'), ['/opt/tracefleet/node/bin/node --max-old-space-size=384 --max-semi-space-size=32 /opt/tracefleet/controller/main.js']);
  assert.deepEqual(a.get('ExecStart'), [`/opt/tracefleet/node/bin/node ${AGENT_NODE_FLAGS.join(' ')} /opt/tracefleet/agent/main.js`]);
  assert.deepEqual(c.get('EnvironmentFile'), ['/etc/tracefleet/controller.env']);
  assert.deepEqual(a.get('EnvironmentFile'), ['/etc/tracefleet/agent.env']);
  assert.equal(last(a, 'StateDirectory'), 'tracefleet/agent');
  assert.equal(last(a, 'StateDirectoryMode'), '0700');
  for (const d of [c, a]) assert.equal(last(d, 'Restart'), 'on-failure');
  // Exit 2: bad configuration (both); 3: the agent's node name is held by another agent.
  assert.deepEqual(last(c, 'RestartPreventExitStatus').split(/\s+/), ['2']);
  assert.deepEqual(last(a, 'RestartPreventExitStatus').split(/\s+/).sort(), ['2', '3']);
  assert.equal(last(a, 'LimitMEMLOCK'), 'infinity');
  // The agent's graceful stop (runs ended, probes detached) must fit well inside the stop timeout.
  assert.ok(parseInt(last(a, 'TimeoutStopSec'), 10) >= 20, 'TimeoutStopSec too short for a 10 s graceful stop');
  assert.equal(last(a, 'KillMode'), 'mixed');
  // The CA key reaches the controller as a credential, not as a file its user must own.
  assert.ok(c.get('LoadCredential').includes('ca.key:/etc/tracefleet/pki/ca.key'));
  assert.ok(c.get('Environment').includes('TRACEFLEET_CA_KEY=%d/ca.key'));
});

test('the controller is fully sandboxed: no capabilities, dynamic user, read-only system', () => {
  const c = directives(unitTexts()['tracefleet-controller.service']);
  assert.equal(last(c, 'CapabilityBoundingSet'), '');
  assert.equal(last(c, 'AmbientCapabilities'), '');
  assert.equal(last(c, 'DynamicUser'), 'yes');
  const wanted = {
    NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
    ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes',
    ProtectClock: 'yes', ProtectHostname: 'yes', RestrictNamespaces: 'yes', RestrictRealtime: 'yes', RestrictSUIDSGID: 'yes',
    LockPersonality: 'yes', SystemCallArchitectures: 'native', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
    PrivateUsers: 'yes', ProtectProc: 'invisible', ProcSubset: 'pid',
  };
  for (const [k, v] of Object.entries(wanted)) assert.equal(last(c, k), v, `${k}`);
  assert.equal(c.get('SystemCallFilter')[0], '@system-service');
  // V8's JIT needs writable+executable pages.
  assert.notEqual(last(c, 'MemoryDenyWriteExecute'), 'yes');
});

test('the agent: exactly its capabilities, and a reason for every sandbox option left off', () => {
  const text = unitTexts()['tracefleet-agent.service'];
  const a = directives(text);
  assert.deepEqual(capabilityProblems(text), []);
  const caps = AGENT_CAPS.map((c) => `CAP_${c}`).sort();
  assert.deepEqual(last(a, 'CapabilityBoundingSet').split(/\s+/).sort(), caps);
  assert.deepEqual(last(a, 'AmbientCapabilities').split(/\s+/).sort(), caps);
  assert.ok(!/^CapabilityBoundingSet=.*CAP_SYS_ADMIN/m.test(text), 'CAP_SYS_ADMIN in the default unit');
  for (const [k, v] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'read-only', PrivateDevices: 'yes',
    ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', RestrictNamespaces: 'yes', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX' })) {
    assert.equal(last(a, k), v, k);
  }
  // bpf() and perf_event_open() must survive the system call filter.
  const filters = a.get('SystemCallFilter');
  assert.ok(filters.at(-1).split(/\s+/).includes('bpf') && filters.at(-1).split(/\s+/).includes('perf_event_open'), filters.join(' | '));
  assert.notEqual(last(a, 'MemoryDenyWriteExecute'), 'yes');
  // Hardening options the agent does not turn on: each must be explained in a comment.
  const comments = text.split('\n').filter((l) => l.trim().startsWith('#')).join('\n');
  for (const opt of ['PrivateTmp', 'ProtectKernelTunables', 'ProtectKernelLogs', 'ProtectProc', 'ProcSubset', 'PrivateUsers',
    'PrivateNetwork', 'DynamicUser', 'MemoryDenyWriteExecute', 'RemoveIPC', 'CAP_SYS_ADMIN']) {
    const on = ['yes', 'strict', 'invisible', 'pid', 'noaccess', 'ptraceable'].includes(last(a, opt) ?? '');
    assert.ok(on || comments.includes(opt), `${opt} is not set on the agent and no comment says why`);
  }
  assert.ok(!['yes', 'true'].includes(last(a, 'PrivateTmp') ?? ''), 'the agent must see the host /tmp (perf maps, binaries named by jobs)');
  assert.ok(!['yes', 'true'].includes(last(a, 'ProtectKernelTunables') ?? ''), 'ProtectKernelTunables hides /proc/kallsyms');
});

test('systemd-analyze security --offline: exposure stays low', () => {
  const dir = makeRoot({ units: unitTexts() });
  try {
    const limits = { 'tracefleet-controller.service': 2.0, 'tracefleet-agent.service': 4.5 };
    for (const [unit, max] of Object.entries(limits)) {
      const res = run('systemd-analyze', ['security', '--offline=yes', `--root=${dir}`, '--no-pager', unit]);
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(res.stdout)?.[1]);
      assert.ok(Number.isFinite(level), `no exposure level for ${unit}:\n${res.stdout}${res.stderr}`);
      assert.ok(level <= max, `${unit}: exposure ${level} > ${max}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the optional sys-admin drop-in verifies and adds CAP_SYS_ADMIN, and only it', () => {
  const dropIn = readFileSync(join(systemdDir, 'agent-sys-admin.conf'), 'utf8');
  assert.deepEqual(capabilityProblems(dropIn), []);
  const units = unitTexts();
  const dir = makeRoot({ units });
  try {
    const securityOf = () => run('systemd-analyze', ['security', '--offline=yes', `--root=${dir}`, '--no-pager', 'tracefleet-agent.service']).stdout;
    const allowed = (out, cap) => new RegExp(`✗ CapabilityBoundingSet=~${cap}\\b`).test(out);
    const before = securityOf();
    mkdirSync(join(dir, 'etc/systemd/system/tracefleet-agent.service.d'));
    writeFileSync(join(dir, 'etc/systemd/system/tracefleet-agent.service.d/sys-admin.conf'), dropIn);
    const res = run('systemd-analyze', ['verify', `--root=${dir}`, '--man=no', '--generators=no', 'tracefleet-agent.service']);
    assert.equal(`${res.stdout}${res.stderr}`.trim(), '');
    assert.equal(res.status, 0);
    const after = securityOf();
    assert.ok(!allowed(before, 'CAP_SYS_ADMIN') && allowed(after, 'CAP_SYS_ADMIN'), 'CAP_SYS_ADMIN: not denied by the unit, or not added by the drop-in');
    for (const cap of ['CAP_SYS_BOOT', 'CAP_SYS_MODULE', 'CAP_NET_ADMIN', 'CAP_SYS_TIME', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT']) {
      assert.match(after, new RegExp(`✓ CapabilityBoundingSet=~${cap}\\b`), `${cap} is not denied with the drop-in`);
    }
    assert.ok(allowed(after, 'CAP_BPF'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every variable the code reads, from its config modules. */
function variablesRead(files) {
  const names = new Set();
  for (const f of files) {
    for (const m of read(f).matchAll(/['"`]((?:TRACEFLEET|DATABASE|REDIS)_[A-Z0-9_]*[A-Z0-9]|HOST|PORT)['"`]|env\.((?:TRACEFLEET|DATABASE|REDIS)_[A-Z0-9_]+|HOST|PORT)\b/g)) {
      names.add(m[1] ?? m[2]);
    }
  }
  return names;
}

test('the env file templates document every variable, and their placeholders are refused at start', () => {
  const controllerVars = variablesRead(['apps/controller/src/config/env.ts']);
  const agentVars = variablesRead(['apps/node-agent/src/config.ts', 'apps/node-agent/src/policy.ts']);
  assert.ok(controllerVars.size > 30 && agentVars.size > 25, `too few variables found: ${controllerVars.size}, ${agentVars.size}`);
  const controllerEnv = readFileSync(join(systemdDir, 'controller.env.example'), 'utf8');
  const agentEnv = readFileSync(join(systemdDir, 'agent.env.example'), 'utf8');
  for (const v of controllerVars) assert.match(controllerEnv, new RegExp(`^#?${v}=`, 'm'), `controller.env.example does not document ${v}`);
  for (const v of agentVars) assert.match(agentEnv, new RegExp(`^#?${v}=`, 'm'), `agent.env.example does not document ${v}`);
  // Unedited tokens must be refused (the controller wants >= 24 characters, the agent >= 16).
  for (const [text, v] of [[controllerEnv, 'TRACEFLEET_API_TOKEN'], [controllerEnv, 'TRACEFLEET_CAPTURE_TOKEN'], [controllerEnv, 'TRACEFLEET_ENROLLMENT_TOKEN'], [agentEnv, 'TRACEFLEET_ENROLLMENT_TOKEN']]) {
    const value = new RegExp(`^${v}=(.*)$`, 'm').exec(text)?.[1];
    assert.ok(value !== undefined && value.length < 16 && value.includes('CHANGE-ME'), `${v}=${value}: not a refused placeholder`);
  }
});

test('every launcher of the agent passes its V8 flags (node-flags.ts): the heap is sized at start', () => {
  assert.ok(AGENT_NODE_FLAGS.length > 0);
  const flags = AGENT_NODE_FLAGS.join(' ');
  assert.match(read('infra/install-agent.sh'), new RegExp(`exec "\\$OPT/node/bin/node" ${flags} "\\$OPT/agent/main.js"`));
  assert.ok(read('infra/images/agent.Dockerfile').includes(`ENTRYPOINT ["node", ${AGENT_NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "main.js"]`));
  assert.equal(JSON.parse(read('apps/node-agent/package.json')).scripts.start, `node ${flags} dist/main.js`);
  assert.match(read('infra/start.mjs'), /node-flags\.js'\)\.AGENT_NODE_FLAGS/);
});
