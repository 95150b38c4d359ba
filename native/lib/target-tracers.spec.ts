// Job targets filtered in the kernel (target.bpf.h) in the tracers other than the Profiler: USDT (uprobes), syscount
// (a tracepoint), memleak (uprobes; the tracepoints of kernel mode) and SSL (uprobes), each with a process inside
// the target and one outside.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { objectPath } from '@tracefleet/bpf';

import { MemleakTracer, SyscountTracer, type SyscountReading, type TargetCgroup, type UsdtTracer, type UsdtTracerOptions } from './index';
import { BIG_SOURCE, memleakObject } from './memleak-spec-support';
import { LIBSSL, buildClient, makeCertificate, sslOffsets, startServer, traceWhile as traceSsl, Client, type Server } from './ssl-spec-support';
import { compileC, sleep, tempDir } from './spec-support';
import { NR_GETPPID, SYSCALLER_SOURCE, TestCgroup, ensureTracefs } from './target-spec-support';
import { TFDEMO_SOURCE, Target, traceWhile as traceUsdt } from './usdt-spec-support';

const N = 2000;

describe('job targets in the USDT, syscount, memleak and SSL tracers (real kernel)', () => {
  const dir = tempDir('target-tracers');
  let demo = '';
  let caller = '';
  let unmountTracefs = (): void => {};
  before(() => {
    demo = compileC(dir, 'tgdemo', TFDEMO_SOURCE, ['-O1']);
    caller = compileC(dir, 'tgcaller', SYSCALLER_SOURCE, ['-O2']);
    unmountTracefs = ensureTracefs();
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    unmountTracefs();
  });

  /** Two tfdemo processes fire N ticks each under a tracer of every process that maps the file. */
  async function usdtRun(opts: Pick<UsdtTracerOptions, 'targetPids' | 'targetCgroup'>, setUp: (tracer: UsdtTracer, inside: Target, outside: Target) => void) {
    const inside = new Target(demo, [String(N)]);
    const outside = new Target(demo, [String(N)]);
    try {
      await Promise.all([inside.waitFor('ready'), outside.waitFor('ready')]);
      const probes = [{ path: demo, provider: 'tfdemo', name: 'tick', probe: 0 }];
      const run = await traceUsdt({ probes, maxEvents: 100_000, ...opts }, async (tracer) => {
        setUp(tracer, inside, outside);
        inside.child.kill('SIGUSR1');
        outside.child.kill('SIGUSR1');
        assert.deepEqual(await Promise.all([inside.exited, outside.exited]), [0, 0]);
      });
      return { ...run, inside: inside.pid, outside: outside.pid };
    } finally {
      inside.kill();
      outside.kill();
    }
  }

  test('usdt targetPids: hits and events of the listed process only', async () => {
    const run = await usdtRun({ targetPids: true }, (tracer, inside) => tracer.addTargetPid(inside.pid));
    assert.deepEqual(run.stats.hits, [BigInt(N)], 'the other process fired N ticks too');
    assert.equal(run.events.length, N);
    assert.ok(run.events.every((e) => e.pid === run.inside));
  });

  test('usdt targetCgroup: hits and events of the process in the cgroup only', async () => {
    const cgroup = new TestCgroup('usdt');
    try {
      const run = await usdtRun({ targetCgroup: cgroup.target }, (_tracer, inside) => cgroup.add(inside.pid));
      assert.deepEqual(run.stats.hits, [BigInt(N)]);
      assert.equal(run.events.length, N);
      assert.ok(run.events.every((e) => e.pid === run.inside));
    } finally {
      await cgroup.close();
    }
  });

  /** Two callers make N getppid calls each while one tracer counts; setUp places them. */
  async function syscountRun(opts: { cgroup?: TestCgroup; listed?: 'inside' | 'outside' }): Promise<{ reading: SyscountReading; inside: number; outside: number }> {
    const inside = new Target(caller, [String(N)], { stdin: true });
    const outside = new Target(caller, [String(N)], { stdin: true });
    const tracer = new SyscountTracer({ objectPath: objectPath('syscount'), targetCgroup: opts.cgroup?.target, targetPids: opts.listed !== undefined });
    try {
      await Promise.all([inside.waitFor('ready'), outside.waitFor('ready')]);
      opts.cgroup?.add(inside.pid);
      if (opts.listed) tracer.addTargetPid(opts.listed === 'inside' ? inside.pid : outside.pid);
      tracer.start();
      for (const t of [inside, outside]) t.child.stdin!.write('go\n');
      await Promise.all([inside.waitFor('done'), outside.waitFor('done')]);
      tracer.stop();
      return { reading: tracer.read(), inside: inside.pid, outside: outside.pid };
    } finally {
      tracer.close();
      for (const t of [inside, outside]) {
        t.child.stdin!.end();
        t.kill();
      }
      await Promise.all([inside.exited, outside.exited]);
    }
  }

  const getppids = (r: SyscountReading, pid: number): bigint => r.entries.filter((e) => e.pid === pid && e.nr === NR_GETPPID).reduce((s, e) => s + e.count, 0n);

  test('syscount targetCgroup: the calls of the process in the cgroup, none of others', async () => {
    const cgroup = new TestCgroup('syscount');
    try {
      const { reading, inside } = await syscountRun({ cgroup });
      assert.deepEqual([...new Set(reading.entries.map((e) => e.pid))], [inside]);
      assert.equal(getppids(reading, inside), BigInt(N));
    } finally {
      await cgroup.close();
    }
  });

  test('syscount targetPids: the listed process only', async () => {
    const { reading, outside } = await syscountRun({ listed: 'outside' });
    assert.deepEqual([...new Set(reading.entries.map((e) => e.pid))], [outside]);
    assert.equal(getppids(reading, outside), BigInt(N));
  });

  test('memleak user mode: targetCgroup records the process in it, nothing when it is not there', async () => {
    const big = compileC(dir, 'tgbig', BIG_SOURCE, ['-O1', '-fno-omit-frame-pointer']);
    const cgroup = new TestCgroup('memleak');
    const elsewhere = cgroup.child('elsewhere');
    try {
      const leaks = async (target: TargetCgroup) => {
        const go = path.join(dir, `go-${Date.now()}-${Math.random()}`);
        const program = new Target(big, [go, `${go}-finish`]);
        let tracer: MemleakTracer | undefined;
        try {
          await program.waitFor('ready');
          cgroup.add(program.pid);
          tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: program.pid, targetCgroup: target });
          tracer.start();
          fs.writeFileSync(go, '');
          await program.waitFor('leaked');
          const snapshot = tracer.snapshot();
          fs.writeFileSync(`${go}-finish`, '');
          assert.equal(await program.exited, 0);
          return snapshot;
        } finally {
          tracer?.close();
          program.kill();
        }
      };
      const recorded = await leaks(cgroup.target);
      const bytes = recorded.stacks.reduce((s, g) => s + g.bytes, 0n);
      assert.ok(bytes >= 3n << 20n, `the three 1 MiB leaks of the process in the cgroup: ${bytes} bytes recorded`);
      const none = await leaks({ id: fs.statSync(elsewhere, { bigint: true }).ino, level: 2 });
      assert.equal(none.counters.allocsSeen, 0n);
      assert.deepEqual(none.stacks, []);
    } finally {
      await cgroup.close();
    }
  });

  test('memleak kernel mode: targetCgroup counts the allocations of tasks in the cgroup only', async (t) => {
    const cgroup = new TestCgroup('kmem');
    const tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'kernel', targetCgroup: cgroup.target });
    try {
      tracer.start();
      // This process is outside: what it makes the kernel allocate is left out.
      for (let i = 0; i < 200; i++) fs.readFileSync('/proc/self/status');
      assert.equal(tracer.snapshot().counters.allocsSeen, 0n, 'allocations of a task outside the cgroup');
      // A shell in the cgroup (it moves itself in, then forks and reads).
      execFileSync('sh', ['-c', `echo $$ > ${cgroup.dir}/cgroup.procs && for i in $(seq 50); do cat /proc/self/status > /dev/null; done`]);
      const seen = tracer.snapshot().counters.allocsSeen;
      t.diagnostic(`kernel allocations seen in the cgroup: ${seen}`);
      assert.ok(seen > 50n, `the shell's 50 cats allocated in the kernel: ${seen} seen`);
    } finally {
      tracer.close();
      await cgroup.close();
    }
  });

  describe('ssl', () => {
    let server: Server;
    let client = '';
    before(async () => {
      client = buildClient(dir, 'tgsslclient');
      server = await startServer(makeCertificate(dir));
    });
    after(() => server?.close());

    test('ssl targetCgroup: events of the client in the cgroup only (with the pid filter off)', async () => {
      const cgroup = new TestCgroup('ssl');
      const inside = new Client(client, server.port, '/inside', { out: path.join(dir, 'out-inside') });
      const outside = new Client(client, server.port, '/outside', { out: path.join(dir, 'out-outside') });
      try {
        await Promise.all([inside.ready(), outside.ready()]);
        cgroup.add(inside.pid);
        const offsets = sslOffsets();
        const probes = (['SSL_write', 'SSL_read'] as const).map((fn) => ({ path: LIBSSL, fn, entryOffset: offsets[fn], returnKind: 'uretprobe' as const, returnOffset: offsets[fn] }));
        const { events } = await traceSsl({ maxDataBytes: 4096, targetCgroup: cgroup.target }, async (tracer) => {
          tracer.attach(probes);
          await Promise.all([inside.go(), outside.go()]);
          await sleep(200);
        });
        assert.ok(events.some((e) => e.fn === 'SSL_write' && e.data.toString().startsWith('GET /inside ')), 'no SSL_write of the client in the cgroup');
        assert.deepEqual([...new Set(events.map((e) => e.pid))], [inside.pid]);
      } finally {
        inside.kill();
        outside.kill();
        await cgroup.close();
      }
    });
  });
});
