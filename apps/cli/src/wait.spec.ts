import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Detached, watch, type Interrupts } from './wait';
import { recordingIo } from './testing';

/** Interrupts a spec fires by hand; answers the question with `answer`. */
function fakeInterrupts(answer: string): Interrupts & { fire(): void; exited: number[] } {
  let handler: () => void = () => undefined;
  const f = {
    exited: [] as number[],
    fire: () => handler(),
    onInterrupt(h: () => void) {
      handler = h;
      return () => (handler = () => undefined);
    },
    ask: async () => answer,
    exitNow(code: number): never {
      f.exited.push(code);
      throw new Error(`exit ${code}`);
    },
  };
  return f;
}

/** A run that ends when `end` is called, or rejects when aborted. */
function pending(): { run: (s: AbortSignal) => Promise<string>; end: (v: string) => void } {
  let end: (v: string) => void = () => undefined;
  return {
    run: (signal) =>
      new Promise((resolve, reject) => {
        end = resolve;
        signal.addEventListener('abort', () => reject(signal.reason));
      }),
    end: (v) => end(v),
  };
}

const base = { what: 'job J', scope: 'on 2 nodes', reattach: 'tracefleet jobs wait J' };

describe('Ctrl-C while waiting', () => {
  it('not a terminal: detaches without stopping, exit 130, says how to re-attach', async () => {
    const ints = fakeInterrupts('y');
    const io = recordingIo({ interactive: false });
    let stopped = 0;
    const p = pending();
    const w = watch(io, { ...base, stop: async () => void stopped++, run: p.run }, ints);
    ints.fire();
    await assert.rejects(w, (e: unknown) => e instanceof Detached && e.exitCode === 130 && /detaching without stopping it.*job J keeps running.*tracefleet jobs wait J/.test(e.message));
    assert.equal(stopped, 0);
  });

  it('a terminal, answer y: stops and keeps waiting for the end', async () => {
    const ints = fakeInterrupts('y');
    const io = recordingIo({ interactive: true });
    let stopped = 0;
    const p = pending();
    const w = watch(io, { ...base, stop: async () => void stopped++, run: p.run }, ints);
    ints.fire();
    await new Promise((r) => setImmediate(r));
    assert.equal(stopped, 1);
    p.end('stopped');
    assert.equal(await w, 'stopped');
    assert.match(io.stderr, /stopping job J/);
  });

  it('a terminal, answer n (or nothing): detaches, exit 130; a second Ctrl-C exits at once', async () => {
    const ints = fakeInterrupts('');
    const io = recordingIo({ interactive: true });
    const p = pending();
    const w = watch(io, { ...base, stop: async () => assert.fail('must not stop'), run: p.run }, ints);
    ints.fire();
    await assert.rejects(w, (e: unknown) => e instanceof Detached && e.exitCode === 130);

    const ints2 = fakeInterrupts('y');
    const p2 = pending();
    const w2 = watch(recordingIo({ interactive: true }), { ...base, stop: async () => undefined, run: p2.run }, ints2);
    ints2.fire();
    assert.throws(() => ints2.fire(), /exit 130/);
    assert.deepEqual(ints2.exited, [130]);
    p2.end('x');
    await w2;
  });
});
