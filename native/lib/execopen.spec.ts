import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { ExecOpenTracer, layouts, type ExecOpenRawEvent, type ExecOpenStats, type ExecOpenTracerOptions } from './index';
import { ownBpfFds } from './usdt-spec-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Traced {
  events: ExecOpenRawEvent[];
  stats: ExecOpenStats;
  pid: number;
  dir: string;
}

/**
 * Runs `script` under /bin/sh (in a fresh directory holding a file `present`) while a tracer with `opts` runs;
 * returns the events of the shell and of its children, in the order they returned.
 */
async function traceScript(script: string, opts: Partial<ExecOpenTracerOptions> = {}): Promise<Traced> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-execopen-'));
  fs.writeFileSync(path.join(dir, 'present'), 'x');
  const events: ExecOpenRawEvent[] = [];
  const tracer = new ExecOpenTracer({ objectPath: objectPath('execopen'), maxEvents: 100000, onEvents: (e) => events.push(...e), ...opts });
  let pid = 0;
  try {
    tracer.start();
    const child = spawn('/bin/sh', ['-c', script], { cwd: dir, stdio: 'ignore' });
    pid = child.pid!;
    await new Promise((r) => child.on('exit', r));
    await sleep(100);
    const stats = await tracer.stop();
    const mine = events.filter((e) => e.pid === pid || e.ppid === pid);
    return { events: mine, stats, pid, dir };
  } finally {
    tracer.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SCRIPT = [
  `/bin/true a 'b c'`,
  `/bin/false`,
  `/nonexistent/tf-missing x 2>/dev/null`,
  `: < present`,
  `: < missing 2>/dev/null`,
].join('\n');

const show = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? String(v) : v));

describe('ExecOpenTracer (syscalls tracepoints, real kernel)', () => {
  test('the addon and execopen.h agree on the event layout', () => {
    const l = layouts().execopen;
    assert.equal(l.EXECOPEN_HEADER_BYTES, 72);
    assert.equal(l.offsets.data, 72);
    assert.equal(l.size, 72 + 2816);
    assert.deepEqual(l.offsets, { ts_ns: 0, pid: 8, tid: 12, ppid: 16, uid: 20, ret: 24, flags: 28, mode: 32, dfd: 36, data_size: 40, args_count: 44, kind: 46, syscall: 47, truncated: 48, comm: 56, data: 72 });
    assert.equal(l.EXECOPEN_MAX_ARGS, 20);
    assert.equal(l.EXECOPEN_ARG_BYTES, 128);
    assert.equal(l.EXECOPEN_PATH_BYTES, 256);
    assert.equal(l.openArgsSize, 24);
  });

  test("a script's execs and opens, in order, with argv, paths, flags and return codes", async () => {
    const t = await traceScript(SCRIPT);
    const execs = t.events.filter((e) => e.kind === 'exec' && e.pid !== t.pid);
    assert.deepEqual(
      execs.map((e) => [e.path, e.args, e.ret, e.comm, e.ppid]),
      [
        ['/bin/true', ['/bin/true', 'a', 'b c'], 0, 'true', t.pid],
        ['/bin/false', ['/bin/false'], 0, 'false', t.pid],
        ['/nonexistent/tf-missing', ['/nonexistent/tf-missing', 'x'], -2, 'sh', t.pid],
      ],
      show(execs),
    );
    const opens = t.events.filter((e) => e.kind === 'open' && e.pid === t.pid && (e.path === 'present' || e.path === 'missing'));
    assert.deepEqual(opens.map((e) => [e.path, e.ret >= 0, e.ret < 0 ? e.ret : 0, e.syscall, e.comm]), [
      ['present', true, 0, 'openat', 'sh'],
      ['missing', false, -2, 'openat', 'sh'],
    ], show(opens));
    assert.equal(opens[0].flags! & 3, 0); // O_RDONLY
    assert.equal(opens[0].dfd, -100);
    // The order holds across kinds: the failed exec returned before the first open.
    const order = t.events.filter((e) => execs.includes(e) || opens.includes(e)).map((e) => e.path);
    assert.deepEqual(order, ['/bin/true', '/bin/false', '/nonexistent/tf-missing', 'present', 'missing']);
    assert.equal(t.stats.kernelDrops + t.stats.queueDrops, 0n);
  });

  test('hostile argv: control bytes, invalid UTF-8, a backslash, 30 arguments and a 300-byte argument', async () => {
    const long = 'L'.repeat(300);
    const script = `/bin/true "$(printf 'x\\001\\033y\\377z\\\\')" ${long}\n/bin/true $(seq 1 30)`;
    const t = await traceScript(script, { open: false });
    const execs = t.events.filter((e) => e.kind === 'exec' && e.path === '/bin/true');
    assert.equal(execs.length, 2, show(t.events));
    assert.equal(execs[0].args![1], 'x\\x01\\x1by\ufffdz\\\\');
    assert.equal(execs[0].args![2], 'L'.repeat(127));
    assert.equal(execs[0].truncated, true);
    assert.equal(execs[0].argsTruncated, false);
    assert.equal(execs[1].args!.length, 20);
    assert.deepEqual(execs[1].args!.slice(1), Array.from({ length: 19 }, (_, i) => String(i + 1)));
    assert.equal(execs[1].argsTruncated, true);
    assert.equal(t.events.some((e) => e.kind === 'open'), false);
  });

  test('failedOnly and comm filters; exec false traces only opens', async () => {
    const failed = await traceScript(SCRIPT, { failedOnly: true });
    assert.ok(failed.events.length > 0);
    for (const e of failed.events) assert.ok(e.ret < 0, show(e));
    assert.ok(failed.events.some((e) => e.path === '/nonexistent/tf-missing'));
    assert.ok(failed.events.some((e) => e.path === 'missing'));
    const onlyTrue = await traceScript(SCRIPT, { comm: 'true' });
    assert.deepEqual([...new Set(onlyTrue.events.map((e) => e.comm))], ['true']);
    assert.ok(onlyTrue.events.some((e) => e.kind === 'exec' && e.path === '/bin/true'));
    const opensOnly = await traceScript(SCRIPT, { exec: false });
    assert.equal(opensOnly.events.some((e) => e.kind === 'exec'), false);
    assert.ok(opensOnly.events.some((e) => e.path === 'present'));
  });

  test('pid: only that process (here, this one), its opens with path, flags and fd', async () => {
    const events: ExecOpenRawEvent[] = [];
    const tracer = new ExecOpenTracer({ objectPath: objectPath('execopen'), pid: process.pid, maxEvents: 1000, onEvents: (e) => events.push(...e) });
    try {
      tracer.start();
      const fd = fs.openSync('/etc/hostname', fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      fs.closeSync(fd);
      const child = spawn('/bin/true', [], { stdio: 'ignore' });
      await new Promise((r) => child.on('exit', r));
      await sleep(50);
      await tracer.stop();
      assert.ok(events.length > 0);
      for (const e of events) assert.equal(e.pid, process.pid, show(e));
      const mine = events.find((e) => e.path === '/etc/hostname');
      assert.ok(mine, show(events));
      assert.equal(mine.ret, fd);
      assert.equal(mine.flags! & fs.constants.O_NOFOLLOW, fs.constants.O_NOFOLLOW);
      assert.equal(events.some((e) => e.kind === 'exec'), false, 'the child is another process');
    } finally {
      tracer.close();
    }
  });

  test('maxEvents 2: later events are counted, not streamed', async () => {
    const events: ExecOpenRawEvent[] = [];
    const tracer = new ExecOpenTracer({ objectPath: objectPath('execopen'), maxEvents: 2, onEvents: (e) => events.push(...e) });
    try {
      tracer.start();
      for (let i = 0; i < 5; i++) fs.closeSync(fs.openSync('/etc/hostname', 'r'));
      await sleep(50);
      const stats = await tracer.stop();
      assert.equal(events.length, 2);
      assert.ok(stats.opens + stats.execs >= 5n);
      assert.equal(stats.overBudget, stats.opens + stats.execs - 2n);
    } finally {
      tracer.close();
    }
  });

  test('bad options are TypeErrors naming the option', () => {
    const base = { objectPath: objectPath('execopen'), maxEvents: 1, onEvents: () => undefined };
    const cases: [object, RegExp][] = [
      [{ exec: false, open: false }, /exec and open/],
      [{ exec: 'yes' }, /exec/],
      [{ failedOnly: 1 }, /failedOnly/],
      [{ comm: 'x'.repeat(16) }, /comm/],
      [{ maxPending: 1 }, /maxPending/],
      [{ maxEvents: -1 }, /maxEvents/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [over, re] of cases) assert.throws(() => new ExecOpenTracer({ ...base, ...over } as ExecOpenTracerOptions), (e: Error) => e instanceof TypeError && re.test(e.message));
  });

  test('close() leaves no BPF program, map or link behind', async () => {
    const before = ownBpfFds();
    const tracer = new ExecOpenTracer({ objectPath: objectPath('execopen'), maxEvents: 1, onEvents: () => undefined });
    tracer.start();
    await tracer.stop();
    tracer.close();
    assert.deepEqual(ownBpfFds(), before);
  });
});
