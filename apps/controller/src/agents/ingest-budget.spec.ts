import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IngestBudget } from './ingest-budget';
import { shrinkReadBuffer } from './agent.gateway';
import { PassThrough } from 'node:stream';

interface S {
  name: string;
  paused: boolean;
  ownLimit: boolean;
}

function setup(maxMessages: number, maxBytes = 1e9, count = 4) {
  const sessions: S[] = Array.from({ length: count }, (_, i) => ({ name: `s${i}`, paused: false, ownLimit: false }));
  const budget = new IngestBudget<S>(
    { maxMessages, maxBytes },
    () => sessions,
    (s) => (s.paused = true),
    (s) => {
      if (!s.ownLimit) s.paused = false;
    },
  );
  return { sessions, budget };
}

describe('the replica ingest budget', () => {
  it('holds every session back at the cap and lets them go once half is stored, oldest first, one per free slot', () => {
    const { sessions, budget } = setup(4, 1e9, 6);
    const [a, b, c, d] = sessions;
    const r1 = budget.take(a, 10);
    const r2 = budget.take(b, 10);
    const r3 = budget.take(c, 10);
    assert.ok(sessions.every((s) => !s.paused), 'under the cap nothing is held');
    const r4 = budget.take(d, 10);
    assert.ok(sessions.every((s) => s.paused), 'at the cap every session is paused, also those that sent nothing');
    assert.equal(budget.inFlight.held, 6);
    assert.equal(budget.saturations, 1);
    r1();
    assert.ok(sessions.every((s) => s.paused), '3 of 4 still in flight: above half, nobody goes on');
    r2();
    // Half stored: two free slots, the two held first go on, the others stay held.
    assert.deepEqual(sessions.map((s) => s.paused), [false, false, true, true, true, true]);
    r3();
    // Three free slots: the next three held (the budget counts slots, not the sessions it let go that have not sent yet).
    assert.deepEqual(sessions.map((s) => s.paused), [false, false, false, false, false, true]);
    r4();
    assert.ok(sessions.every((s) => !s.paused), 'all stored: every held session goes on');
    assert.equal(budget.inFlight.messages, 0);
    assert.equal(budget.inFlight.peakMessages, 4);
    // Releasing twice counts once.
    const r5 = budget.take(a, 1);
    r5();
    r5();
    assert.equal(budget.inFlight.messages, 0);
  });

  it('lets every held session go once nothing is in flight, however many were held (none is left paused for good)', () => {
    // 2 slots, 50 sessions: at the cap all 50 are held; the releases let go one per free slot, most of them
    // idle sessions that send nothing, so without this rule 45 would stay paused with no release to come.
    const { sessions, budget } = setup(2, 1e9, 50);
    const r1 = budget.take(sessions[0], 10);
    const r2 = budget.take(sessions[1], 10);
    assert.equal(budget.inFlight.held, 50);
    r1();
    assert.equal(budget.inFlight.held, 49, 'half stored: one free slot, one session goes on');
    r2();
    assert.equal(budget.inFlight.held, 0);
    assert.ok(sessions.every((s) => !s.paused));
  });

  it('caps bytes as well as messages', () => {
    const { sessions, budget } = setup(1000, 100);
    const r = budget.take(sessions[0], 60);
    assert.ok(!sessions[1].paused);
    const r2 = budget.take(sessions[1], 60);
    assert.ok(sessions.every((s) => s.paused), '120 bytes ≥ 100: every session is held');
    r2();
    assert.ok(sessions.every((s) => s.paused), '60 bytes: above half the byte cap, still held');
    r();
    assert.ok(sessions.every((s) => !s.paused), 'back under half the byte cap');
    assert.equal(budget.inFlight.bytes, 0);
    assert.equal(budget.inFlight.peakBytes, 120);
  });

  it('holds every session while a command runs, below the cap too, and lets them go as the budget allows once it is done', () => {
    const { sessions, budget } = setup(4, 1e9, 6);
    const r1 = budget.take(sessions[0], 10);
    budget.forCommand(true);
    assert.ok(sessions.every((s) => s.paused), 'one message in flight of 4, and every session is held for the command');
    assert.equal(budget.commandHolds, 1);
    assert.equal(budget.saturations, 0, 'a command hold is not the cap');
    budget.forCommand(true);
    assert.equal(budget.commandHolds, 1, 'a command already running holds nothing more');
    // A message taken meanwhile (one already buffered on a stream) and its release: still held.
    const r2 = budget.take(sessions[1], 10);
    r2();
    assert.ok(sessions.every((s) => s.paused), 'released while the command runs: nobody goes on');
    budget.forCommand(false);
    assert.deepEqual(sessions.map((s) => s.paused), [false, false, false, true, true, true], 'three free slots: the three held first go on');
    r1();
    assert.ok(sessions.every((s) => !s.paused), 'nothing in flight: all go on');
    budget.forCommand(false);
    assert.equal(budget.inFlight.held, 0);
  });

  it('does not hold for a command a session whose answer is awaited, and holds it again once the answer came', () => {
    const { sessions, budget } = setup(4, 1e9, 3);
    const [a, b] = sessions;
    const unspareA = budget.spare(a);
    budget.forCommand(true);
    assert.deepEqual(sessions.map((s) => s.paused), [false, true, true], 'the session a check waits on is read during the command');
    // A check begun during the command: its session is read again at once.
    const unspareB = budget.spare(b);
    assert.deepEqual(sessions.map((s) => s.paused), [false, false, true]);
    unspareB();
    unspareB(); // twice counts once
    budget.forCommand(false);
    budget.forCommand(true);
    assert.deepEqual(sessions.map((s) => s.paused), [false, true, true], 'b answered: the next command holds it; a still awaited');
    budget.forCommand(false);
    // At the cap a spared session is held like the rest (the cap is memory, not priority).
    const releases = [0, 1, 2, 3].map(() => budget.take(sessions[2], 1));
    assert.ok(sessions.every((s) => s.paused), 'at the cap every session is held, the awaited one too');
    releases.forEach((r) => r());
    assert.ok(sessions.every((s) => !s.paused));
    unspareA();
    budget.forget(a);
  });

  it('does not resume a session that its own backlog holds, and forgets sessions that ended', () => {
    const { sessions, budget } = setup(1);
    sessions[0].ownLimit = true;
    const r = budget.take(sessions[1], 1);
    assert.ok(sessions.every((s) => s.paused));
    budget.forget(sessions[2]);
    r();
    assert.ok(sessions[0].paused, 'its own limit keeps it paused');
    assert.ok(!budget.holds(sessions[0]), 'but the budget no longer holds it: its backlog resumes it');
    assert.ok(!budget.holds(sessions[2]));
  });
});

describe('a session stream reads one message ahead', () => {
  it('sets the readable high-water mark of an object-mode stream to 1', () => {
    const s = new PassThrough({ objectMode: true });
    assert.equal(s.readableHighWaterMark, 16);
    shrinkReadBuffer(s as never);
    assert.equal(s.readableHighWaterMark, 1);
    // A paused stream now refuses more after one buffered message (push returns false).
    s.pause();
    assert.equal(s.push({ n: 1 }), false);
    shrinkReadBuffer({} as never); // a stream without Node's state is left alone
  });
});
