import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddProcessResult, UnwindCounters, UnwinderStats } from '@tracefleet/native';
import { UnwindService, type UnwindServiceOptions, type UnwinderPort } from './unwind-service';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// Only the figures the service reads or passes on; a cast keeps the fake compiling as the addon's stats grow.
const zeroStats = (): UnwinderStats =>
  ({
    processes: 0,
    tables: 0,
    tableRows: 0,
    tableBytes: 0,
    tableBytesPeak: 0,
    tablesBuilt: 0,
    buildMs: 0,
    tablesEvicted: 0,
    tablesRefused: 0,
    modulesFp: 0,
    mappingsDropped: 0,
    unreadable: 0,
  }) as UnwinderStats;

/** The addon's Unwinder as the service sees it: records every call and refuses to be used once closed, like the real one. */
class FakeUnwinder implements UnwinderPort {
  /** pids in the order their addProcess began. */
  readonly adds: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  closed = 0;
  usedWhenClosed = 0;
  /** Returned by every takeMisses: a process that keeps missing. */
  misses: number[] = [];
  known: number[] = [];
  readonly failing = new Set<number>();
  delayMs = 5;
  current = zeroStats();

  async addProcess(pid: number): Promise<AddProcessResult> {
    this.live();
    this.adds.push(pid);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await sleep(this.delayMs);
      if (this.failing.has(pid)) throw new Error(`read /proc/${pid}/maps: Permission denied`);
      return { gone: false, mappings: 4, tablesBuilt: 1, buildMs: 1.5 };
    } finally {
      this.inFlight--;
    }
  }
  async removeProcess(): Promise<void> {
    this.live();
  }
  takeMisses(): number[] {
    this.live();
    return [...this.misses];
  }
  stats(): UnwinderStats {
    this.live();
    return { ...this.current };
  }
  processes(): number[] {
    this.live();
    return [...this.known];
  }
  close(): void {
    this.closed++;
  }
  count(pid: number): number {
    return this.adds.filter((p) => p === pid).length;
  }
  private live(): void {
    if (this.closed > 0) {
      this.usedWhenClosed++;
      throw new Error('Unwinder is closed');
    }
  }
}

// Long defaults so that only the timer a test is about fires.
function setup(opts: UnwindServiceOptions = {}, configure: (f: FakeUnwinder) => void = () => {}) {
  const made: FakeUnwinder[] = [];
  const logs: string[] = [];
  const service = new UnwindService(
    () => {
      const fake = new FakeUnwinder();
      configure(fake);
      made.push(fake);
      return fake;
    },
    (msg) => logs.push(msg),
    { missPollMs: 60_000, retryMs: 60_000, refreshMs: 60_000, ...opts },
  );
  return { service, made, logs };
}

describe('UnwindService leases', () => {
  it('creates the Unwinder on the first lease and closes it when the last is released', () => {
    const { service, made } = setup();
    const a = service.lease();
    const b = service.lease();
    assert.equal(made.length, 1, 'a second lease shares the first Unwinder');
    assert.equal(a.handle, made[0]);
    assert.equal(b.handle, made[0]);
    a.release();
    assert.equal(made[0].closed, 0, 'closed while a lease still holds it');
    b.release();
    assert.equal(made[0].closed, 1);

    const c = service.lease();
    assert.equal(made.length, 2, 'a lease after the last release makes a new Unwinder');
    assert.equal(c.handle, made[1]);
    c.release();
    assert.deepEqual(made.map((f) => f.closed), [1, 1]);
  });

  it('release() is idempotent: a lease gives back one share however often it is released', () => {
    const { service, made } = setup();
    const a = service.lease();
    const b = service.lease();
    a.release();
    a.release();
    a.release();
    assert.equal(made[0].closed, 0, "a's repeated release took b's share");
    b.release();
    b.release();
    assert.equal(made[0].closed, 1);
    assert.equal(made.length, 1);
    assert.equal(made[0].usedWhenClosed, 0);
  });

  it('after the last release nothing touches the closed Unwinder: queued reads and timers are dropped', async () => {
    const { service, made, logs } = setup({ missPollMs: 5, refreshMs: 5, retryMs: 1 }, (f) => {
      f.misses = [7];
      f.known = [8];
    });
    const lease = service.lease();
    const prepared = lease.prepare([1, 2, 3]);
    lease.release();
    await prepared;
    await sleep(50);
    assert.equal(made[0].usedWhenClosed, 0, `logs: ${logs.join(' | ')}`);
    assert.deepEqual(made[0].adds, [], 'reads queued before the release ran on the closed Unwinder');
  });
});

describe('UnwindService reads', () => {
  it('prepare() reads every pid and resolves once the last read is done', async () => {
    const { service, made } = setup();
    const lease = service.lease();
    try {
      await lease.prepare([101, 102, 103]);
      assert.deepEqual(made[0].adds, [101, 102, 103]);
      assert.equal(made[0].inFlight, 0, 'prepare resolved while a read was still running');
      await lease.prepare([101]);
      assert.equal(made[0].count(101), 2, 'prepare reads again even a process read just before');
    } finally {
      lease.release();
    }
  });

  it('a miss reads its process once per retryMs, however many polls report it', async () => {
    const { service, made } = setup({ missPollMs: 10, retryMs: 300 }, (f) => (f.misses = [7, 7, 8]));
    const lease = service.lease();
    try {
      await sleep(150);
      const fake = made[0];
      assert.equal(fake.count(7), 1, `pid 7 read ${fake.count(7)} times in 150 ms with retryMs 300`);
      assert.equal(fake.count(8), 1);
      await sleep(650);
      // Reads at ~10, >= 310 and >= 610 ms.
      assert.ok(fake.count(7) >= 2 && fake.count(7) <= 3, `pid 7 read ${fake.count(7)} times in 800 ms`);
    } finally {
      lease.release();
    }
  });

  it('the refresh reads every known process again', async () => {
    const { service, made } = setup({ refreshMs: 20 }, (f) => (f.known = [41, 42]));
    const lease = service.lease();
    try {
      await sleep(120);
      assert.ok(made[0].count(41) >= 2 && made[0].count(42) >= 2, `reads: ${made[0].adds.join(',')}`);
    } finally {
      lease.release();
    }
  });

  it('reads never overlap, whether from prepare, misses or the refresh', async () => {
    const { service, made } = setup({ missPollMs: 3, retryMs: 1, refreshMs: 7 }, (f) => {
      f.delayMs = 4;
      f.misses = [20, 21];
      f.known = [30];
    });
    const lease = service.lease();
    try {
      await Promise.all([lease.prepare([1, 2, 3]), lease.prepare([4, 5])]);
      await sleep(80);
      const fake = made[0];
      for (const pid of [1, 2, 3, 4, 5, 20, 21, 30]) assert.ok(fake.count(pid) >= 1, `pid ${pid} never read`);
      assert.equal(fake.maxInFlight, 1, 'two addProcess calls were in flight at once');
    } finally {
      lease.release();
    }
  });

  it('a failing read is logged with its pid and reason, and later reads still run', async () => {
    const { service, made, logs } = setup({}, (f) => f.failing.add(2));
    const lease = service.lease();
    try {
      await lease.prepare([1, 2, 3]);
      await lease.prepare([4]);
      assert.deepEqual(made[0].adds, [1, 2, 3, 4]);
      const failures = logs.filter((l) => l.includes('pid 2'));
      assert.equal(failures.length, 1, `logs: ${logs.join(' | ')}`);
      assert.match(failures[0], /Permission denied/);
      assert.ok(logs.some((l) => /pid 3: 4 mappings, 1 tables built/.test(l)), `logs: ${logs.join(' | ')}`);
    } finally {
      lease.release();
    }
  });
});

describe('UnwindLease.stats', () => {
  const counters: UnwindCounters = {
    stacks: 100n,
    stacksComplete: 90n,
    framesTable: 1200n,
    framesFp: 30n,
    cutNoMapping: 1n,
    cutNoRow: 2n,
    cutExpression: 3n,
    cutDepth: 4n,
    cutReadFault: 5n,
    unwindPending: 6n,
    cutInvalid: 7n,
  };

  it('passes the kernel counters through and gives table work as deltas since the lease began', () => {
    const { service, made } = setup({}, (f) => {
      f.current = { ...zeroStats(), tablesBuilt: 2, buildMs: 10, tablesEvicted: 1, tablesRefused: 1, tableBytes: 100, tableBytesPeak: 100, processes: 1 };
    });
    const lease = service.lease();
    try {
      made[0].current = {
        ...made[0].current,
        tablesBuilt: 5,
        buildMs: 25.4,
        tablesEvicted: 3,
        tablesRefused: 4,
        tableBytes: 4096,
        tableBytesPeak: 8192,
        processes: 2,
        modulesFp: 1,
      };
      assert.deepEqual(lease.stats(counters), {
        ...counters,
        tablesBuilt: 3n,
        tableBuildMs: 15n,
        tableBytes: 4096n,
        tableBytesPeak: 8192n,
        tablesEvicted: 2n,
        tablesRefused: 3n,
        processes: 2n,
        modulesFp: 1n,
      });
      const none = lease.stats(undefined);
      for (const key of Object.keys(counters) as Array<keyof UnwindCounters>) assert.equal(none[key], 0n, key);
      assert.equal(none.tablesBuilt, 3n);
    } finally {
      lease.release();
    }
  });

  it('a lease taken later counts from its own start, and keeps the figures read at release', () => {
    const { service, made } = setup();
    const first = service.lease();
    made[0].current = { ...zeroStats(), tablesBuilt: 4, buildMs: 8 };
    const second = service.lease();
    made[0].current = { ...zeroStats(), tablesBuilt: 6, buildMs: 12, tableBytes: 64 };
    assert.equal(first.stats(counters).tablesBuilt, 6n);
    assert.equal(second.stats(counters).tablesBuilt, 2n);
    assert.equal(second.stats(counters).tableBuildMs, 4n);

    second.release();
    made[0].current = { ...zeroStats(), tablesBuilt: 9, buildMs: 20, tableBytes: 128 };
    assert.equal(second.stats(counters).tablesBuilt, 2n, 'a released lease went on reading the shared Unwinder');
    assert.equal(second.stats(counters).tableBytes, 64n);
    first.release();
    // The Unwinder is closed now: stats() must not touch it.
    assert.equal(first.stats(counters).tablesBuilt, 9n);
    assert.equal(made[0].usedWhenClosed, 0);
  });
});
