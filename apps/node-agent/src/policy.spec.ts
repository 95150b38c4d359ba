import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY, loadPolicy, parsePolicyText, policyMessage, readPolicyFile } from './policy';

const never = (): boolean => false;

describe('agent policy file', () => {
  it('reads every key and keeps the defaults for the others', () => {
    const p = parsePolicyText('allowJobTypes: [cpu-profile, memleak]\nmaxKernelMemoryMb: 64\nallowSslCapture: false\n', 'f');
    assert.deepEqual(p.allowJobTypes, ['cpu-profile', 'memleak']);
    assert.equal(p.maxKernelMemoryBytes, 64 * 1024 * 1024);
    assert.equal(p.allowSslCapture, false);
    assert.equal(p.allowRedactionOff, false);
    assert.equal(p.maxConcurrentRuns, DEFAULT_POLICY.maxConcurrentRuns);
    const all = parsePolicyText(
      'allowJobTypes: []\nallowSslCapture: true\nallowRedactionOff: true\nmaxConcurrentRuns: 2\nmaxKernelMemoryMb: 1\nmaxDurationSec: 60\n',
      'f',
    );
    assert.deepEqual(all, { allowJobTypes: [], allowSslCapture: true, allowRedactionOff: true, maxConcurrentRuns: 2, maxKernelMemoryBytes: 1 << 20, maxDurationSec: 60 });
    assert.deepEqual(parsePolicyText('', 'f'), DEFAULT_POLICY);
    assert.deepEqual(parsePolicyText('# only a comment\n', 'f'), DEFAULT_POLICY);
  });

  it('defaults: every job type, ssl-capture allowed, redaction off refused', () => {
    assert.deepEqual(DEFAULT_POLICY.allowJobTypes, ['cpu-profile', 'usdt', 'memleak', 'ssl-capture', 'syscount', 'runqlat', 'biolatency', 'tcp', 'off-cpu', 'oomkill', 'exec-open']);
    assert.equal(DEFAULT_POLICY.allowSslCapture, true);
    assert.equal(DEFAULT_POLICY.allowRedactionOff, false);
  });

  const hostile: [string, string, RegExp][] = [
    ['an unknown key', 'maxKernelMemory: 64\n', /f: unknown key "maxKernelMemory"/],
    ['a key differing in case', 'AllowSslCapture: true\n', /unknown key "AllowSslCapture"/],
    ['a prototype key', '__proto__: {maxConcurrentRuns: 1}\n', /unknown key "__proto__"/],
    ['a string for a number', 'maxConcurrentRuns: "4"\n', /maxConcurrentRuns: "4" is not an integer in \[1, 256\]/],
    ['a negative number', 'maxKernelMemoryMb: -1\n', /maxKernelMemoryMb: -1 is not an integer/],
    ['zero', 'maxConcurrentRuns: 0\n', /maxConcurrentRuns: 0 is not an integer/],
    ['a fraction', 'maxDurationSec: 1.5\n', /maxDurationSec: 1.5 is not an integer/],
    ['a huge number', 'maxKernelMemoryMb: 1e300\n', /maxKernelMemoryMb: 1e\+300 is not an integer/],
    ['past 2^53', 'maxDurationSec: 9007199254740993\n', /maxDurationSec: .* is not an integer/],
    ['infinity', 'maxDurationSec: .inf\n', /maxDurationSec: .* is not an integer/],
    ['a string for a boolean', 'allowRedactionOff: "yes"\n', /allowRedactionOff: "yes" is not true or false/],
    ['YAML 1.1 yes', 'allowRedactionOff: yes\n', /allowRedactionOff: "yes" is not true or false/],
    ['a number for a boolean', 'allowSslCapture: 1\n', /allowSslCapture: 1 is not true or false/],
    ['an unknown job type', 'allowJobTypes: [cpu-profile, kprobe]\n', /allowJobTypes: "kprobe" is not a job type/],
    ['a string for the list', 'allowJobTypes: cpu-profile\n', /allowJobTypes: want a list of job types/],
    ['a nested list', 'allowJobTypes: [[memleak]]\n', /allowJobTypes: \["memleak"\] is not a job type/],
    ['a list at the top', '- maxConcurrentRuns: 1\n', /want a mapping of settings at the top level/],
    ['a scalar at the top', 'hello\n', /want a mapping of settings at the top level/],
    ['a duplicate key (the later would silently win)', 'allowSslCapture: false\nallowSslCapture: true\n', /not a valid policy file: .*unique/i],
    ['an alias', 'maxConcurrentRuns: &n 4\nmaxDurationSec: *n\n', /not a valid policy file: Alias/],
    ['a merge key', 'base: &b {maxConcurrentRuns: 1}\n<<: *b\n', /not a valid policy file/],
    ['an unknown tag', 'allowJobTypes: [!evil cpu-profile]\n', /not a valid policy file: .*tag/i],
    ['a binary tag', 'maxConcurrentRuns: !!binary aGVsbG8=\n', /not a valid policy file|is not an integer/],
    ['two documents', 'maxConcurrentRuns: 1\n---\nmaxConcurrentRuns: 100\n', /not a valid policy file: .*multiple documents/],
    ['broken syntax', 'allowJobTypes: [cpu-profile\n', /not a valid policy file/],
  ];
  for (const [what, text, want] of hostile) {
    it(`refuses ${what}`, () => assert.throws(() => parsePolicyText(text, 'f'), want));
  }

  it('refuses an alias bomb at once, without expanding it', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    assert.throws(() => parsePolicyText(lines.join('\n'), 'bomb.yaml'), /bomb.yaml: not a valid policy file: Alias/);
  });
});

describe('agent policy: reading the file and the environment', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tf-policy-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the defaults when no file is named and the default path is absent', () => {
    const p = loadPolicy({}, never);
    assert.equal(p.source, 'defaults');
    assert.equal(p.maxKernelMemoryBytes, DEFAULT_POLICY.maxKernelMemoryBytes);
  });

  it('reads the named file; each variable overrides its key', () => {
    const f = join(dir, 'agent.yaml');
    writeFileSync(f, 'allowJobTypes: [cpu-profile]\nmaxConcurrentRuns: 3\n', { mode: 0o600 });
    const p = loadPolicy(
      { TRACEFLEET_AGENT_POLICY: f, TRACEFLEET_AGENT_ALLOW_JOB_TYPES: 'memleak, usdt', TRACEFLEET_AGENT_ALLOW_REDACTION_OFF: 'true', TRACEFLEET_AGENT_MAX_KERNEL_MEMORY_MB: '128' },
      never,
    );
    assert.deepEqual(p.allowJobTypes, ['memleak', 'usdt']);
    assert.equal(p.maxConcurrentRuns, 3);
    assert.equal(p.allowRedactionOff, true);
    assert.equal(p.maxKernelMemoryBytes, 128 << 20);
    assert.match(p.source, /agent\.yaml, TRACEFLEET_AGENT_ALLOW_JOB_TYPES/);
    assert.equal(policyMessage(p).maxKernelMemoryBytes, 128n << 20n);
  });

  it('names the variable when one is bad', () => {
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_MAX_CONCURRENT_RUNS: '-3' }, never), /TRACEFLEET_AGENT_MAX_CONCURRENT_RUNS: "-3" is not an integer/);
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_MAX_KERNEL_MEMORY_MB: '99999999999999999999' }, never), /TRACEFLEET_AGENT_MAX_KERNEL_MEMORY_MB/);
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_ALLOW_SSL_CAPTURE: 'no' }, never), /TRACEFLEET_AGENT_ALLOW_SSL_CAPTURE: "no" is not true or false/);
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_ALLOW_JOB_TYPES: 'cpu-profile,bogus' }, never), /TRACEFLEET_AGENT_ALLOW_JOB_TYPES: "bogus" is not a job type/);
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_MAX_DURATION_SEC: '0x10' }, never), /TRACEFLEET_AGENT_MAX_DURATION_SEC/);
  });

  it('a named file that is missing is an error, not the defaults', () => {
    assert.throws(() => loadPolicy({ TRACEFLEET_AGENT_POLICY: join(dir, 'nope.yaml') }, never), /nope\.yaml: cannot read the policy file: ENOENT/);
  });

  it('refuses a FIFO without blocking on it', () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    assert.throws(() => readPolicyFile(fifo), /fifo\.yaml: the policy file is not a regular file/);
  });

  it('refuses a directory, a device and a path through a file', () => {
    assert.throws(() => readPolicyFile(dir), /not a regular file/);
    assert.throws(() => readPolicyFile('/dev/zero'), /\/dev\/zero: the policy file is not a regular file/);
    const f = join(dir, 'plain');
    writeFileSync(f, '');
    assert.throws(() => readPolicyFile(join(f, 'agent.yaml')), /cannot read the policy file: ENOTDIR/);
  });

  it('refuses a file others may write, or that belongs to another user', () => {
    const f = join(dir, 'loose.yaml');
    writeFileSync(f, 'maxConcurrentRuns: 1\n');
    chmodSync(f, 0o666);
    assert.throws(() => readPolicyFile(f), /loose\.yaml: the policy file is writable by group or others \(mode 666\)/);
    chmodSync(f, 0o640);
    assert.equal(readPolicyFile(f), 'maxConcurrentRuns: 1\n');
    chownSync(f, 65534, 0);
    assert.throws(() => readPolicyFile(f), /loose\.yaml: the policy file belongs to uid 65534, not root/);
  });

  it('refuses a file too big to be a policy, and one that is not UTF-8', () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(70_000)}\n`, { mode: 0o600 });
    assert.throws(() => readPolicyFile(big), /big\.yaml: the policy file is 70003 bytes \(at most 65536\)/);
    const bin = join(dir, 'bin.yaml');
    writeFileSync(bin, Buffer.from([0x6d, 0x61, 0xff, 0xfe, 0x0a]), { mode: 0o600 });
    assert.throws(() => readPolicyFile(bin), /not UTF-8 text/);
  });

  it('the agent does not start with a bad policy, and says why', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'maxConcurrentRuns: 4\nallowEverything: true\n', { mode: 0o600 });
    const main = join(__dirname, 'main.js');
    const env = { PATH: process.env.PATH, TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'policy-spec', TRACEFLEET_CONTROLLER_GRPC: '127.0.0.1:1' };
    for (const [extra, want] of [
      [{ TRACEFLEET_AGENT_POLICY: bad }, /bad\.yaml: unknown key "allowEverything"/],
      [{ TRACEFLEET_AGENT_POLICY: join(dir, 'fifo.yaml') }, /fifo\.yaml: the policy file is not a regular file/],
    ] as const) {
      const r = spawnSync(process.execPath, [main], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, want);
    }
  });
});
