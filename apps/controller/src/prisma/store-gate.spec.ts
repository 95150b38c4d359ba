import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreGate } from './store-gate';
import { isTransientDbError, withDbRetry } from './transient';

describe('StoreGate', () => {
  it('runs at most `slots` at once, in arrival order, and frees the slot after a failure', async () => {
    const gate = new StoreGate(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const release: (() => void)[] = [];
    const work = (i: number) =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await new Promise<void>((r) => release.push(r));
        running--;
        if (i === 1) throw new Error('boom');
        return i;
      });
    const all = [0, 1, 2, 3, 4].map((i) => work(i).catch((e: Error) => e.message));
    await new Promise((r) => setImmediate(r));
    assert.equal(running, 2);
    assert.equal(gate.queued, 3);
    while (release.length) {
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(all), [0, 'boom', 2, 3, 4]);
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    assert.equal(gate.queued, 0);
  });

  it('narrows to its foreground slots while a command runs: work under way finishes, new work waits, then all slots again', async () => {
    const gate = new StoreGate(3, 1);
    const release: (() => void)[] = [];
    let running = 0;
    let peakDuringCommand = 0;
    let commandRunning = false;
    const work = () =>
      gate.run(async () => {
        running++;
        await new Promise<void>((r) => release.push(r));
        running--;
      });
    const tick = () => new Promise((r) => setImmediate(r));
    const all = Array.from({ length: 6 }, work);
    await tick();
    assert.equal(running, 3);
    let endCommand!: () => void;
    const command = gate.foreground(() => {
      commandRunning = true;
      peakDuringCommand = running;
      return new Promise<void>((r) => (endCommand = r));
    });
    assert.equal(gate.limit, 1);
    // The three under way finish; only one at a time goes on while the command runs.
    for (let i = 0; i < 4; i++) {
      release.shift()!();
      await tick();
      peakDuringCommand = Math.max(peakDuringCommand, running);
      if (i >= 2) assert.equal(running, 1);
    }
    assert.equal(running, 1, 'one slot while the command runs');
    assert.equal(peakDuringCommand, 3, 'work under way was not cut');
    assert.ok(commandRunning);
    commandRunning = false;
    endCommand();
    await command;
    await tick();
    assert.equal(gate.limit, 3);
    assert.equal(running, 2, 'the waiting work took the slots that opened again');
    while (release.length) {
      release.shift()!();
      await tick();
    }
    await Promise.all(all);
    assert.equal(gate.busy, 0);
    assert.equal(gate.queued, 0);
  });

  it('tells its listeners when commands begin and when the last one running is done, also after a failed command', async () => {
    const gate = new StoreGate(3, 1);
    const heard: boolean[] = [];
    gate.onCommands((running) => heard.push(running));
    let endFirst!: () => void;
    const first = gate.foreground(() => new Promise<void>((r) => (endFirst = r)));
    const second = gate.foreground(async () => {
      throw new Error('refused');
    });
    await assert.rejects(second, /refused/);
    assert.deepEqual(heard, [true], 'one command still runs: no end yet');
    endFirst();
    await first;
    assert.deepEqual(heard, [true, false]);
    await gate.foreground(async () => undefined);
    assert.deepEqual(heard, [true, false, true, false]);
    // Plain storage work is not a command.
    await gate.run(async () => undefined);
    assert.deepEqual(heard, [true, false, true, false]);
  });

  it("narrows for other replicas' commands ('elsewhere') as for its own, but tells only its own to onLocalCommands", async () => {
    const gate = new StoreGate(3, 1);
    const all: boolean[] = [];
    const local: boolean[] = [];
    gate.onCommands((running) => all.push(running));
    gate.onLocalCommands((running) => local.push(running));
    let endRemote!: () => void;
    const remote = gate.foreground(() => new Promise<void>((r) => (endRemote = r)), 'elsewhere');
    assert.equal(gate.limit, 1, 'narrowed for the other replica');
    assert.deepEqual(all, [true]);
    assert.deepEqual(local, [], 'not told on: the other replica would hold for its own stand-in');
    let endOwn!: () => void;
    const own = gate.foreground(() => new Promise<void>((r) => (endOwn = r)));
    assert.deepEqual(local, [true]);
    endRemote();
    await remote;
    assert.equal(gate.limit, 1, 'its own command still runs');
    assert.deepEqual(all, [true]);
    endOwn();
    await own;
    assert.deepEqual(local, [true, false]);
    assert.deepEqual(all, [true, false]);
    assert.equal(gate.limit, 3);
    // A failed command of its own ends too.
    await assert.rejects(gate.foreground(async () => Promise.reject(new Error('refused'))), /refused/);
    assert.deepEqual(local, [true, false, true, false]);
  });

  it('refuses foreground slots outside 1..slots', () => {
    assert.throws(() => new StoreGate(2, 0), /foreground slots must be 1..2/);
    assert.throws(() => new StoreGate(2, 3), /foreground slots must be 1..2/);
  });

  it('changes its slots while work runs: fewer are not passed on until within them, more start what waits at once', async () => {
    const gate = new StoreGate(3, 1);
    const release: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const tick = () => new Promise((r) => setImmediate(r));
    const work = () =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
      });
    const all = Array.from({ length: 6 }, () => work());
    await tick();
    assert.equal(running, 3);
    gate.setSlots(1);
    assert.equal(gate.slots, 1);
    // Two of the three end: their slots go to no one (three were running, the limit is one).
    release.shift()!();
    release.shift()!();
    await tick();
    assert.equal(running, 1);
    assert.equal(gate.queued, 3);
    // The last one of those ends: its slot passes to the next in line, one at a time.
    release.shift()!();
    await tick();
    assert.equal(running, 1);
    assert.equal(gate.queued, 2);
    // More slots: what waits starts now, without waiting for a release.
    gate.setSlots(3);
    await tick();
    assert.equal(running, 3);
    assert.equal(gate.queued, 0);
    while (release.length) {
      release.shift()!();
      await tick();
    }
    await Promise.all(all);
    assert.equal(peak, 3);
    assert.throws(() => gate.setSlots(0), /at least one slot/);
    assert.throws(() => gate.setSlots(1.5), /at least one slot/);
  });
});

describe('withDbRetry', () => {
  const noSleep = { sleep: async () => undefined };
  it('retries transient errors and returns the later success', async () => {
    let n = 0;
    const seen: number[] = [];
    const v = await withDbRetry(
      async () => {
        if (++n < 3) throw Object.assign(new Error('Transaction API error: Unable to start a transaction in the given time.'), { code: 'P2028' });
        return 'ok';
      },
      { attempts: 5, baseDelayMs: 10, onRetry: (_e, a) => seen.push(a), ...noSleep },
    );
    assert.equal(v, 'ok');
    assert.deepEqual(seen, [1, 2]);
  });
  it('gives up after the attempts, throwing the last error', async () => {
    let n = 0;
    await assert.rejects(
      withDbRetry(
        async () => {
          n++;
          throw Object.assign(new Error('deadlock detected'), { code: 'P2010', meta: { code: '40P01' } });
        },
        { attempts: 3, baseDelayMs: 1, ...noSleep },
      ),
      /deadlock/,
    );
    assert.equal(n, 3);
  });
  it('does not retry errors that would fail the same way again', async () => {
    let n = 0;
    await assert.rejects(
      withDbRetry(
        async () => {
          n++;
          throw Object.assign(new Error('Unique constraint failed'), { code: 'P2002' });
        },
        { attempts: 3, baseDelayMs: 1, ...noSleep },
      ),
    );
    assert.equal(n, 1);
  });
  it('knows transient SQLSTATEs and driver messages', () => {
    assert.equal(isTransientDbError({ code: '40001' }), true);
    assert.equal(isTransientDbError({ code: 'P2010', meta: { driverAdapterError: { cause: { originalCode: '57P01' } } } }), true);
    assert.equal(isTransientDbError(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isTransientDbError({ code: '23505' }), false);
    assert.equal(isTransientDbError(undefined), false);
  });
});
