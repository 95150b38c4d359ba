import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DutyCycle } from './duty-cycle';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DutyCycle', () => {
  it('opens a window at every period from the start, closes it after onMs, and counts removal time as attached', async () => {
    const log: string[] = [];
    const t0 = Date.now();
    const probes = {
      pause: async () => {
        log.push(`pause ${Math.round((Date.now() - t0) / 100)}`);
        await sleep(100); // the kernel taking the probes out
      },
      resume: async () => {
        log.push(`resume ${Math.round((Date.now() - t0) / 100)}`);
      },
    };
    const d = new DutyCycle(200, 600, probes);
    d.start();
    await sleep(1500);
    await d.stop();
    // Windows at 0, 600, 1200 ms (tenths: 0, 6, 12), each closed 200 ms in.
    assert.deepEqual(log, ['pause 2', 'resume 6', 'pause 8', 'resume 12', 'pause 14']);
    // Attached: 3 × (200 + 100) ms of 1500 ms.
    assert.ok(Math.abs(d.fraction() - 0.6) < 0.08, `fraction ${d.fraction()}`);
    assert.match(d.note(), /^duty cycle: probes attached 200 ms in every 600 ms, [\d.]+% of the 1\.\d s run in 3 window\(s\) \(scale .*\); taking them out took 1\d\d ms a window/);
    const before = log.length;
    await sleep(700);
    assert.equal(log.length, before, 'nothing changes after stop()');
  });

  it('tick() makes an overdue change at once when the event loop held its timer back, and only once', async () => {
    const log: string[] = [];
    const d = new DutyCycle(100, 1000, { pause: async () => void log.push('pause'), resume: async () => void log.push('resume') });
    d.start();
    // Block the event loop past the window's end: the timer cannot fire, a batch of events arrives.
    const until = Date.now() + 250;
    while (Date.now() < until);
    d.tick();
    assert.deepEqual(log, ['pause'], 'the overdue close happened in tick()');
    d.tick();
    await sleep(50);
    assert.deepEqual(log, ['pause'], 'the timer of that change does not fire it again, nor does a second tick');
    await d.stop();
    assert.ok(d.fraction() < 0.95);
  });

  it('names a failing window change instead of throwing, and refuses a window that is not shorter than the period', async () => {
    const d = new DutyCycle(50, 100, { pause: async () => Promise.reject(new Error('detach failed: EBUSY')), resume: async () => undefined });
    d.start();
    await sleep(180);
    await d.stop();
    assert.match(d.note(), /a window change failed: detach failed: EBUSY/);
    assert.throws(() => new DutyCycle(100, 100, { pause: async () => undefined, resume: async () => undefined }), /0 < onMs < periodMs/);
    assert.throws(() => new DutyCycle(0, 100, { pause: async () => undefined, resume: async () => undefined }), /0 < onMs < periodMs/);
  });
});
