import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentMessage, RunEventKind } from '@tracefleet/proto';
import { Outbox, type OutboxLink, type OutboxOptions } from './outbox';

const A = 'aaaaaaaa-1111-4111-8111-111111111111';
const B = 'bbbbbbbb-2222-4222-8222-222222222222';
const MAX_U64 = 2n ** 64n - 1n;

function event(runId: string, message = 'started'): AgentMessage {
  return { msg: { $case: 'runEvent', value: { runId, kind: RunEventKind.RUN_EVENT_KIND_STARTED, message, atUnixMs: 1n } } };
}

/** A result batch of about `size` + 60 encoded bytes. */
function batch(runId: string, seq: bigint, size = 100): AgentMessage {
  return {
    msg: { $case: 'profileBatch', value: { runId, seq, strings: ['f'.repeat(size)], stacks: [{ frames: [0, 0], count: seq, origin: 0 }], origins: [] } },
  };
}

function usdtBatch(runId: string, seq: bigint): AgentMessage {
  return { msg: { $case: 'usdtEvents', value: { runId, seq, strings: ['u'.repeat(100)], events: [], origins: [] } } };
}

function finished(runId: string): AgentMessage {
  return {
    msg: {
      $case: 'runFinished',
      value: {
        runId,
        ok: true,
        reason: '',
        targetExited: false,
        samplesTaken: 0n,
        samplesDroppedKernel: 0n,
        samplesDroppedAgent: 0n,
        samplesSent: 0n,
        lastSeq: 0n,
        unwind: undefined,
        batchesSpooled: 0n,
        batchesOverflowed: 0n,
      },
    },
  };
}

function heartbeat(): AgentMessage {
  return { msg: { $case: 'heartbeat', value: { sentAtUnixMs: 1n, runningRunIds: [] } } };
}

/** "a3": run A's message number 3. */
function tag(msg: AgentMessage): string {
  return `${(msg.msg?.value as { runId: string }).runId.slice(0, 1)}${msg.delivery}`;
}

/** The controller link as the outbox sees it: records what was written. */
class FakeLink implements OutboxLink {
  connected = false;
  written: AgentMessage[] = [];
  /** The next write fails and the session drops with it, as when the stream breaks. */
  breakNext = false;
  /** The next write never completes (a dead stream that never drains). */
  hangNext = false;
  /** Messages the link refuses while staying connected (as ControllerLink does past its bounds). */
  refuse: (msg: AgentMessage) => boolean = () => false;
  inFlight = 0;
  maxInFlight = 0;

  async send(msg: AgentMessage): Promise<void> {
    if (!this.connected) throw new Error('not connected to the controller');
    if (this.hangNext) {
      this.hangNext = false;
      return new Promise(() => undefined);
    }
    if (this.refuse(msg)) throw new Error('not sent: over the bounds');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setImmediate(r));
      if (this.breakNext) {
        this.breakNext = false;
        this.connected = false;
        throw new Error('stream broke');
      }
      this.written.push(msg);
    } finally {
      this.inFlight--;
    }
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Gives the pump time to write whatever it would. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const done of cleanups.splice(0)) done();
});

function setup(opts: Partial<OutboxOptions> = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-spec-'));
  const spoolDir = path.join(tmp, 'spool');
  const logs: string[] = [];
  const link = new FakeLink();
  const outbox = new Outbox(link, { memoryBytes: 1 << 20, spoolBytes: 1 << 20, spoolDir, log: (m) => logs.push(m), ...opts });
  outbox.open();
  cleanups.push(() => {
    outbox.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const connect = (): void => {
    link.connected = true;
    outbox.onConnected();
  };
  const disconnect = (): void => {
    link.connected = false;
    outbox.onDisconnected();
  };
  return { tmp, spoolDir, logs, link, outbox, connect, disconnect };
}

describe('outbox numbering and order', () => {
  it('numbers each run on its own and writes in the order queued, one write at a time', async () => {
    const { link, outbox, connect } = setup();
    connect();
    for (const m of [event(A), batch(A, 1n), event(B), usdtBatch(A, 2n), finished(B)]) await outbox.send(m);
    await until(() => link.written.length === 5, 'five writes');
    assert.deepEqual(link.written.map(tag), ['a1', 'a2', 'b1', 'a3', 'b2']);
    assert.equal(link.maxInFlight, 1, 'one pump loop');
  });

  it('keeps what is queued while disconnected and delivers it all, in order, on connect', async () => {
    const { link, outbox, connect } = setup();
    const queued = [event(A), event(B), batch(A, 1n), batch(B, 1n), batch(A, 2n), finished(A)];
    for (const m of queued) await outbox.send(m); // resolves: the link being down is not the run's problem
    assert.equal(link.written.length, 0);
    assert.equal(outbox.stats().messages, 6);
    connect();
    await until(() => link.written.length === 6, 'six writes');
    assert.deepEqual(link.written.map(tag), ['a1', 'b1', 'a2', 'b2', 'a3', 'a4']);
    assert.deepEqual(link.written, queued);
  });

  it('after a disconnect, writes again from the first unacknowledged message, not the acknowledged ones', async () => {
    const { link, outbox, connect, disconnect } = setup();
    connect();
    for (const m of [event(A), batch(A, 1n), batch(A, 2n), event(B), batch(A, 3n)]) await outbox.send(m);
    await until(() => link.written.length === 5, 'five writes');
    outbox.onAck(A, 2n);
    disconnect();
    await outbox.send(batch(A, 4n));
    connect();
    await until(() => link.written.length === 9, 'the resend');
    assert.deepEqual(link.written.slice(5).map(tag), ['a3', 'b1', 'a4', 'a5']);
  });

  it('stops when a write fails with the session, and resends it on the next', async () => {
    const { link, outbox, connect, disconnect } = setup();
    for (const m of [event(A), batch(A, 1n), batch(A, 2n)]) await outbox.send(m);
    link.breakNext = true;
    connect();
    await settle();
    assert.equal(link.written.length, 0);
    disconnect();
    connect();
    await until(() => link.written.length === 3, 'three writes');
    assert.deepEqual(link.written.map(tag), ['a1', 'a2', 'a3']);
  });

  it('a message the link refuses while connected stays queued and does not hold up the others', async () => {
    const { link, outbox, connect, disconnect, logs } = setup();
    link.refuse = (m) => tag(m) === 'a2';
    for (const m of [event(A), batch(A, 1n), event(B), finished(A)]) await outbox.send(m);
    connect();
    await until(() => link.written.length === 3, 'three writes');
    assert.deepEqual(link.written.map(tag), ['a1', 'b1', 'a3']);
    assert.ok(logs.some((l) => l.includes('not sent')));
    outbox.onAck(A, 1n);
    assert.equal(outbox.stats().messages, 3, 'a2, a3 and b1 are not acknowledged');
    link.refuse = () => false;
    disconnect();
    connect();
    await until(() => link.written.length === 6, 'the resend');
    assert.deepEqual(link.written.slice(3).map(tag), ['a2', 'b1', 'a3']);
  });

  it('a write that never completes on a dead session does not hold up the next session', async () => {
    const { link, outbox, connect, disconnect } = setup();
    link.hangNext = true;
    connect();
    await outbox.send(event(A));
    await outbox.send(batch(A, 1n));
    await settle();
    assert.equal(link.written.length, 0);
    disconnect();
    connect();
    await until(() => link.written.length === 2, 'two writes');
    assert.deepEqual(link.written.map(tag), ['a1', 'a2']);
  });
});

describe('outbox memory and spool', () => {
  it('past the memory budget, batches go to disk and come back byte-identical', async () => {
    const { link, outbox, connect, spoolDir } = setup({ memoryBytes: 300 });
    const queued = [event(A), batch(A, 1n), batch(A, 2n), usdtBatch(A, 3n), batch(A, 4n, 500), event(A, 'still in memory'), finished(A)];
    for (const m of queued) await outbox.send(m);
    const s = outbox.stats();
    assert.equal(s.spooled, 3);
    assert.equal(s.messages, 7);
    const file = path.join(spoolDir, `${A}.spool`);
    assert.equal(fs.statSync(file).size, s.spoolBytes);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(spoolDir).mode & 0o777, 0o700);
    const fin = queued[6].msg?.$case === 'runFinished' ? queued[6].msg.value : assert.fail('not RunFinished');
    assert.equal(fin.batchesSpooled, 3n);
    assert.equal(fin.batchesOverflowed, 0n);

    connect();
    await until(() => link.written.length === 7, 'seven writes');
    assert.deepEqual(link.written, queued);
    for (let i = 0; i < queued.length; i++) {
      assert.deepEqual(AgentMessage.encode(link.written[i]).finish(), AgentMessage.encode(queued[i]).finish());
    }
    assert.notEqual(link.written[4], queued[4], 'read back from the spool');
  });

  it('past the spool budget, the newest batches are dropped and counted; events and RunFinished never are', async () => {
    const size = AgentMessage.encode({ ...batch(A, 1n), delivery: 2n }).finish().length;
    const { link, outbox, connect, disconnect, logs } = setup({ memoryBytes: 0, spoolBytes: Math.floor(size * 3.5) });
    await outbox.send(event(A));
    for (let seq = 1n; seq <= 6n; seq++) await outbox.send(batch(A, seq));
    await outbox.send(batch(B, 1n));
    await outbox.send(event(A, 'after the drops'));
    const fin = finished(A);
    await outbox.send(fin);
    await outbox.send(finished(B));
    assert.deepEqual({ spooled: outbox.stats().spooled, overflowed: outbox.stats().overflowed }, { spooled: 3, overflowed: 4 });
    assert.equal(logs.filter((l) => l.includes(A) && l.includes('dropping')).length, 1, 'said once for the run, not per batch');
    assert.equal(logs.filter((l) => l.includes(B) && l.includes('dropping')).length, 1);
    assert.ok(fin.msg?.$case === 'runFinished');
    assert.equal(fin.msg.value.batchesSpooled, 3n);
    assert.equal(fin.msg.value.batchesOverflowed, 3n);

    connect();
    await until(() => link.written.length === 7, 'seven writes');
    const seqs = link.written.map((m) => (m.msg?.value as { seq?: bigint }).seq).filter((s) => s !== undefined);
    assert.deepEqual(seqs, [1n, 2n, 3n], 'the oldest are kept');
    assert.deepEqual(link.written.map(tag), ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'b1'], 'no gaps in the numbers');
    assert.equal(link.written[4].msg?.$case, 'runEvent');
    assert.deepEqual(link.written[5], fin);

    // A new outage may say it again.
    disconnect();
    await outbox.send(batch(A, 7n));
    await outbox.send(batch(A, 8n));
    assert.equal(logs.filter((l) => l.includes(A) && l.includes('dropping')).length, 2);
  });

  it('an ack frees memory at once and deletes the spool file once none of its batches remain', async () => {
    const { link, outbox, connect, spoolDir } = setup({ memoryBytes: 250 });
    for (const m of [event(A), batch(A, 1n), batch(A, 2n), batch(A, 3n), finished(A)]) await outbox.send(m);
    const file = path.join(spoolDir, `${A}.spool`);
    const before = outbox.stats();
    assert.equal(before.spooled, 2, 'a2 in memory, a3 and a4 spooled');
    connect();
    await until(() => link.written.length === 5, 'five writes');

    outbox.onAck(A, 2n);
    const mid = outbox.stats();
    assert.ok(mid.memoryBytes < before.memoryBytes);
    assert.equal(mid.messages, 3);
    outbox.onAck(A, 3n);
    assert.ok(fs.existsSync(file), 'a4 is still spooled');
    outbox.onAck(A, 4n);
    assert.ok(!fs.existsSync(file));
    assert.equal(outbox.stats().spoolBytes, 0);
    assert.deepEqual(outbox.heldRunIds(), [A]);
    outbox.onAck(A, 5n);
    const { peakBytes, ...rest } = outbox.stats();
    assert.deepEqual(rest, { runs: 0, messages: 0, memoryBytes: 0, spoolBytes: 0, spooled: 2, overflowed: 0 });
    assert.ok(peakBytes > 0, "the peak is kept after everything was acknowledged");
    assert.deepEqual(outbox.heldRunIds(), []);
    assert.deepEqual(fs.readdirSync(spoolDir), []);
  });
});

describe('outbox against a hostile or confused controller', () => {
  it('ignores acks of unknown runs and of numbers never written, and throws nothing', async () => {
    const { link, outbox, connect, disconnect } = setup({ memoryBytes: 0 });
    for (const m of [event(A), batch(A, 1n), batch(A, 2n)]) await outbox.send(m);
    assert.doesNotThrow(() => {
      outbox.onAck(A, MAX_U64);
      outbox.onAck(A, 1n);
      outbox.onAck('unknown', 1n);
      outbox.onAck(`../${A}`, 3n);
      outbox.onAck('', MAX_U64);
      outbox.onAck('__proto__', 1n);
      outbox.onAck(A, 0n);
    });
    assert.equal(outbox.stats().messages, 3, 'nothing was written yet, so nothing is forgotten');

    connect();
    await until(() => link.written.length === 3, 'three writes');
    disconnect();
    await outbox.send(batch(A, 3n));
    await outbox.send(finished(A));
    outbox.onAck(A, MAX_U64);
    assert.equal(outbox.stats().messages, 5, 'an ack past what was written is not believed');
    outbox.onAck(A, 3n);
    assert.equal(outbox.stats().messages, 2, 'written in an earlier session: may be forgotten');

    connect();
    await until(() => link.written.length === 5, 'the unwritten ones');
    assert.deepEqual(link.written.slice(3).map(tag), ['a4', 'a5']);
    outbox.onAck(A, 5n);
    assert.equal(outbox.stats().messages, 0);
  });

  it('never makes a path of a run id that is not a plain UUID', async () => {
    const { link, outbox, connect, spoolDir, tmp } = setup({ memoryBytes: 0 });
    const ids = ['../../../../../../tmp/outbox-spec-evil', '..', 'a/b', '../'.padEnd(36, 'a'), `${A.slice(0, 35)}/`];
    for (const id of ids) await outbox.send(batch(id, 1n));
    assert.equal(outbox.stats().spooled, 0);
    assert.equal(outbox.stats().messages, ids.length, 'kept in memory instead');
    assert.deepEqual(fs.readdirSync(spoolDir), []);
    assert.deepEqual(fs.readdirSync(tmp), ['spool']);
    assert.ok(!fs.existsSync(path.join(os.tmpdir(), 'outbox-spec-evil.spool')));
    connect();
    await until(() => link.written.length === ids.length, 'all written');
    for (const id of ids) outbox.onAck(id, 1n);
    assert.equal(outbox.stats().messages, 0);
  });
});

describe('outbox bookkeeping', () => {
  it('sends messages of no run straight to the link, which fails when disconnected', async () => {
    const { link, outbox, connect } = setup();
    await assert.rejects(outbox.send(heartbeat()), /not connected/);
    await assert.rejects(outbox.send({ msg: { $case: 'targetCheckResult', value: { requestId: 'r', found: true, detail: '' } } }), /not connected/);
    await assert.rejects(outbox.send(event('')), /not connected/, 'no run id: not a run message');
    assert.equal(outbox.stats().messages, 0);
    connect();
    await outbox.send(heartbeat());
    assert.equal(link.written.length, 1, 'written before send() resolves');
    assert.equal(link.written[0].delivery, undefined);
    assert.deepEqual(outbox.heldRunIds(), []);
  });

  it('names the runs holding unacknowledged messages', async () => {
    const { link, outbox, connect } = setup();
    assert.deepEqual(outbox.heldRunIds(), []);
    for (const m of [event(A), event(B), batch(A, 1n)]) await outbox.send(m);
    assert.deepEqual(outbox.heldRunIds().sort(), [A, B]);
    connect();
    await until(() => link.written.length === 3, 'three writes');
    outbox.onAck(A, 2n);
    assert.deepEqual(outbox.heldRunIds(), [B]);
    outbox.onAck(B, 1n);
    assert.deepEqual(outbox.heldRunIds(), []);
    assert.equal(outbox.stats().runs, 0);
  });

  it('drained() says whether everything was acknowledged in time', async () => {
    const { link, outbox, connect } = setup();
    assert.equal(await outbox.drained(10), true);
    await outbox.send(event(A));
    await outbox.send(finished(A));
    assert.equal(await outbox.drained(20), false);
    const waiting = outbox.drained(5_000);
    connect();
    await until(() => link.written.length === 2, 'two writes');
    outbox.onAck(A, 1n);
    outbox.onAck(A, 2n);
    assert.equal(await waiting, true);
  });
});

describe('outbox spool directory', () => {
  function tmpDir(): string {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-dir-'));
    cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
    return tmp;
  }
  const outboxAt = (spoolDir: string, logs: string[] = []) =>
    new Outbox(new FakeLink(), { memoryBytes: 0, spoolBytes: 1 << 20, spoolDir, log: (m) => logs.push(m) });

  it('creates it 0700', () => {
    const dir = path.join(tmpDir(), 'a', 'spool');
    outboxAt(dir).open();
    assert.ok(fs.statSync(dir).isDirectory());
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  });

  it('refuses a directory owned by another user', () => {
    const dir = path.join(tmpDir(), 'spool');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    assert.throws(() => outboxAt(dir).open(), /owned by uid 65534/);
  });

  it('refuses a symbolic link or a file', () => {
    const tmp = tmpDir();
    fs.mkdirSync(path.join(tmp, 'real'));
    fs.symlinkSync(path.join(tmp, 'real'), path.join(tmp, 'link'));
    assert.throws(() => outboxAt(path.join(tmp, 'link')).open(), /symbolic link/);
    fs.symlinkSync(path.join(tmp, 'nowhere'), path.join(tmp, 'dangling'));
    assert.throws(() => outboxAt(path.join(tmp, 'dangling')).open(), /symbolic link/);
    fs.writeFileSync(path.join(tmp, 'file'), '');
    assert.throws(() => outboxAt(path.join(tmp, 'file')).open(), /not a directory/);
  });

  it('deletes the spool files a previous process left, and close() deletes its own', async () => {
    const dir = path.join(tmpDir(), 'spool');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, `${A}.spool`), 'old');
    fs.writeFileSync(path.join(dir, `${B}.spool`), 'old');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not ours');
    const logs: string[] = [];
    const outbox = outboxAt(dir, logs);
    outbox.open();
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
    assert.ok(logs.some((l) => l.includes('deleted 2 spool file')), logs.join('\n'));

    await outbox.send(batch(A, 1n));
    assert.deepEqual(fs.readdirSync(dir).sort(), [`${A}.spool`, 'notes.txt']);
    outbox.close();
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });
});
