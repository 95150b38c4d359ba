import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import * as fs from 'node:fs';
import { objectPath } from '@tracefleet/bpf';

import { SyscountTracer, layouts, type SyscountReading } from './index';
import { compileC, tempDir } from './spec-support';
import { Target, ownBpfFds } from './usdt-spec-support';

const N = 25_000;
const NR_GETPPID = 110; // x86-64
const NR_GETUID = 102;

/** Waits for a line on stdin, makes N getppid and N/5 getuid calls through syscall(2), says "done", waits for stdin to close. */
const SOURCE = `
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  int n = atoi(argv[1]);
  char line[16];
  puts("ready"); fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) return 1;
  for (int i = 0; i < n; i++) syscall(SYS_getppid);
  for (int i = 0; i < n / 5; i++) syscall(SYS_getuid);
  puts("done"); fflush(stdout);
  while (fgets(line, sizeof line, stdin)) {}
  return 0;
}
`;

const dir = tempDir('syscount');
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const binary = compileC(dir, 'sys-caller', SOURCE.replace('#include <stdio.h>', '#include <stdio.h>\n#include <stdlib.h>'), ['-O2']);

const countOf = (r: SyscountReading, pid: number, nr: number): bigint =>
  r.entries.filter((e) => e.pid === pid && e.nr === nr).reduce((sum, e) => sum + e.count, 0n);

async function runCaller(opts: (pid: number) => { pid?: number; comm?: string }): Promise<{ reading: SyscountReading; pid: number }> {
  const target = new Target(binary, [String(N)], { stdin: true });
  try {
    await target.waitFor('ready');
    const tracer = new SyscountTracer({ objectPath: objectPath('syscount'), ...opts(target.pid) });
    try {
      tracer.start();
      target.child.stdin!.write('go\n');
      await target.waitFor('done');
      tracer.stop();
      return { reading: tracer.read(), pid: target.pid };
    } finally {
      tracer.close();
    }
  } finally {
    target.child.stdin!.end();
    target.kill();
    await target.exited;
  }
}

describe('SyscountTracer (raw_syscalls:sys_enter, real kernel)', () => {
  test('counts one process exactly: N getppid, N/5 getuid, nothing from other processes', async () => {
    const { reading, pid } = await runCaller((p) => ({ pid: p }));
    assert.equal(countOf(reading, pid, NR_GETPPID), BigInt(N));
    assert.equal(countOf(reading, pid, NR_GETUID), BigInt(N / 5));
    assert.deepEqual([...new Set(reading.entries.map((e) => e.pid))], [pid]);
    assert.equal(reading.entries.find((e) => e.nr === NR_GETPPID)?.comm, 'sys-caller');
    assert.equal(reading.calls, reading.entries.reduce((s, e) => s + e.count, 0n));
    assert.equal(reading.uncounted, 0n);
  });

  test('a comm filter counts the named processes only', async () => {
    const { reading, pid } = await runCaller(() => ({ comm: 'sys-caller' }));
    assert.equal(countOf(reading, pid, NR_GETPPID), BigInt(N));
    assert.ok(reading.entries.every((e) => e.comm === 'sys-caller'), [...new Set(reading.entries.map((e) => e.comm))].join(', '));
  });

  test('a full map counts what it refused as uncounted, and the sum still adds up', async () => {
    const target = new Target(binary, [String(N)], { stdin: true });
    try {
      await target.waitFor('ready');
      const tracer = new SyscountTracer({ objectPath: objectPath('syscount'), pid: target.pid, maxKeys: 1 });
      try {
        tracer.start();
        target.child.stdin!.write('go\n');
        await target.waitFor('done');
        tracer.stop();
        const r = tracer.read();
        assert.equal(r.entries.length, 1);
        assert.ok(r.uncounted > 0n, 'the second syscall had no room');
        assert.equal(r.calls, r.entries[0].count + r.uncounted);
      } finally {
        tracer.close();
      }
    } finally {
      target.child.stdin!.end();
      target.kill();
      await target.exited;
    }
  });

  test('close() leaves no BPF fds behind, and a closed tracer says so', () => {
    const before = ownBpfFds();
    const tracer = new SyscountTracer({ objectPath: objectPath('syscount'), pid: process.pid });
    tracer.start();
    tracer.close();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
    assert.throws(() => tracer.read(), /SyscountTracer.read\(\): the tracer is closed/);
  });

  test('hostile options are refused with the reason', () => {
    const o = objectPath('syscount');
    assert.throws(() => new SyscountTracer({ objectPath: o, comm: 'x'.repeat(16) }), /comm must be 1..15 bytes/);
    assert.throws(() => new SyscountTracer({ objectPath: o, comm: '' }), /comm must be 1..15 bytes/);
    assert.throws(() => new SyscountTracer({ objectPath: o, comm: 'ab\0cd' }), /comm must be 1..15 bytes without NUL/);
    assert.throws(() => new SyscountTracer({ objectPath: o, pid: 1, comm: 'a' }), /exclude each other/);
    assert.throws(() => new SyscountTracer({ objectPath: o, pid: -1 }), TypeError);
    assert.throws(() => new SyscountTracer({ objectPath: o, maxKeys: 0 }), TypeError);
    assert.throws(() => new SyscountTracer({ objectPath: o, extra: 1 } as never), /unknown option/);
    assert.throws(() => new SyscountTracer({ objectPath: '/nonexistent.bpf.o' }), /open \/nonexistent.bpf.o/);
  });

  test('layout: 8-byte key, count then a 16-byte comm', () => {
    const l = layouts().syscount;
    assert.deepEqual([l.keySize, l.valueSize, l.countOffset, l.commOffset], [8, 24, 0, 8]);
  });
});
