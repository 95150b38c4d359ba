import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SseSink } from '../common/sse';
import type { SslRunView } from '../ssl/ssl-run.view';
import { PROGRESS_EVERY_MS, PROGRESS_POLL_MS, pumpProgress, toProgress, type JobProgress, type ProgressInput, type ProgressOptions, type ProgressSource } from './job-progress';
import { PROGRESS_T0 as T0, at, progressRun as run, progressView as view } from '../testing/progress-views';

/** A fake clock and a wait that advances it (a macrotask later, so an abort in between is seen). */
function fakeTime(start = T0): { now: () => number; advance: (ms: number) => void; wait: NonNullable<ProgressOptions['wait']>; waits: number[] } {
  let t = start;
  const waits: number[] = [];
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    waits,
    wait: async (ms) => {
      waits.push(ms);
      t += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
}

/** A sink recording each chunk with the (fake) time it was written. */
function sink(now: () => number): SseSink & { out: { at: number; chunk: string }[]; ended: boolean } {
  const s = {
    out: [] as { at: number; chunk: string }[],
    ended: false,
    write(chunk: string) {
      s.out.push({ at: now(), chunk });
      return true;
    },
    drained: async () => undefined,
    end() {
      s.ended = true;
    },
  };
  return s;
}

/** The messages of a stream: event name, data, and when it was written. */
function messages(s: { out: { at: number; chunk: string }[] }): { event: string; data: any; at: number }[] {
  return s.out
    .filter((o) => o.chunk.includes('data: '))
    .map((o) => ({ event: /^event: (.*)$/m.exec(o.chunk)![1], data: JSON.parse(/^data: (.*)$/m.exec(o.chunk)![1]), at: o.at - T0 }));
}

const progressOf = (ms: ReturnType<typeof messages>): { data: JobProgress; at: number }[] => ms.filter((m) => m.event === 'progress');

/** A source answering from `script(poll number, 0-based)`; each read takes `readMs` of fake time. */
function source(time: ReturnType<typeof fakeTime>, script: (poll: number) => ProgressInput | undefined, readMs = 0): ProgressSource & { reads: number } {
  const src = {
    reads: 0,
    job: async () => {
      const answer = script(src.reads++);
      time.advance(readMs);
      return answer;
    },
  };
  return src;
}

const opts = (time: ReturnType<typeof fakeTime>, signal = new AbortController().signal): ProgressOptions => ({ pollMs: PROGRESS_POLL_MS, everyMs: PROGRESS_EVERY_MS, signal, now: time.now, wait: time.wait });

describe('pumpProgress', () => {
  it('sends progress at once, then at least once a second while nothing changes, however long each read takes', async () => {
    const time = fakeTime();
    // Reads take 120 ms; the job ends on the 12th read.
    const src = source(time, (n) => (n < 11 ? view() : view({ status: 'completed', finishedAt: at(5000) }, [run({ status: 'completed', finishedAt: at(5000) })])), 120);
    const s = sink(time.now);
    const res = await pumpProgress(src, s, opts(time));
    assert.match(s.out[0].chunk, /^retry: 1000\n\n$/);
    const progress = progressOf(messages(s));
    const running = progress.filter((p) => p.data.status === 'running');
    assert.equal(running[0].at, 120, 'the first message goes out with the first read');
    const gaps = running.slice(1).map((p, i) => p.at - running[i].at);
    // Every other poll, 900 ms apart: within the second with room for a slower read.
    assert.deepEqual(gaps, [900, 900, 900, 900, 900], 'polls keep their cadence: a slow read does not stretch the interval');
    assert.ok(time.waits.every((w) => w === 330), `waits ${time.waits}`);
    assert.deepEqual(
      running.map((p) => p.data.elapsedSec),
      [0.1, 1, 1.9, 2.8, 3.7, 4.6],
    );
    assert.deepEqual(running.map((p) => p.data.remainingSec), [3.9, 3, 2.1, 1.2, 0.3, 0]);
    assert.deepEqual(res, { sent: 7, status: 'completed' });
  });

  it('sends a message at the poll that sees a change, between the once-a-second ones', async () => {
    const time = fakeTime();
    const src = source(time, (n) => {
      if (n >= 7) return view({ status: 'completed', finishedAt: at(3150) }, [run({ status: 'completed', samplesStored: 250, finishedAt: at(3150) })]);
      return view({}, [run({ samplesStored: n >= 3 ? 150 : 40, batchesReceived: n >= 3 ? 2 : 1 })]);
    });
    const s = sink(time.now);
    await pumpProgress(src, s, opts(time));
    const progress = progressOf(messages(s));
    assert.deepEqual(
      progress.map((p) => [p.at, p.data.nodes[0].samplesStored]),
      [
        [0, 40],
        [900, 40],
        [1350, 150],
        [2250, 150],
        [3150, 250],
      ],
    );
  });

  it('once the job has ended: the final progress, then status, then the end of the stream', async () => {
    const time = fakeTime(T0 + 9000);
    const done = view({ status: 'partial', reason: 'n2: agent n2 disconnected', finishedAt: at(4300) }, [
      run({ status: 'completed', samplesTaken: 410, samplesStored: 400, samplesDroppedKernel: 3, samplesDroppedAgent: 2, samplesLostTransit: 5, batchesReceived: 4, finishedAt: at(4200) }),
      run({ node: 'n2', status: 'failed', reason: 'agent n2 disconnected', finishedAt: at(4300) }),
    ]);
    const src = source(time, () => done);
    const s = sink(time.now);
    const res = await pumpProgress(src, s, opts(time));
    const ms = messages(s);
    assert.deepEqual(ms.map((m) => m.event), ['progress', 'status']);
    const final = ms[0].data as JobProgress;
    assert.equal(final.status, 'partial');
    assert.equal(final.elapsedSec, 4.3, 'a finished job\'s elapsed time stops at finishedAt');
    assert.equal(final.remainingSec, null);
    assert.deepEqual(final.totals, { samplesTaken: 410, samplesStored: 400, samplesDroppedKernel: 3, samplesDroppedAgent: 2, samplesLostTransit: 5 });
    assert.deepEqual(final.nodes.map((n) => [n.node, n.status, n.dropped, n.reason]), [
      ['n1', 'completed', 10, null],
      ['n2', 'failed', 0, 'agent n2 disconnected'],
    ]);
    assert.deepEqual(ms[1].data, { status: 'partial', reason: 'n2: agent n2 disconnected', finishedAt: at(4300) });
    assert.equal(src.reads, 1);
    assert.equal(s.ended, true);
    assert.deepEqual(res, { sent: 1, status: 'partial' });
  });

  it('ends with status deleted when the job disappears mid-stream', async () => {
    const time = fakeTime();
    const src = source(time, (n) => (n < 2 ? view() : undefined));
    const s = sink(time.now);
    const res = await pumpProgress(src, s, opts(time));
    const ms = messages(s);
    assert.deepEqual(ms.map((m) => m.event), ['progress', 'status']);
    assert.deepEqual(ms[1].data, { status: 'deleted', reason: 'the job no longer exists', finishedAt: null });
    assert.equal(src.reads, 3);
    assert.equal(s.ended, true);
    assert.deepEqual(res, { sent: 1, status: 'deleted' });
  });

  it('stops polling as soon as the client goes away', async () => {
    const time = fakeTime();
    const ac = new AbortController();
    const src = source(time, (n) => {
      if (n === 3) ac.abort();
      return view();
    });
    const s = sink(time.now);
    const res = await pumpProgress(src, s, opts(time, ac.signal));
    assert.equal(src.reads, 4, 'no read after the abort');
    assert.equal(s.ended, true);
    assert.ok(!s.out.some((o) => o.at >= T0 + 1350), 'nothing written after the abort');
    assert.equal(res.status, 'aborted');
    // And nothing more later: no timer or poll is left behind.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(src.reads, 4);
  });

  it('with the real wait, an abort ends a long pause at once (no timer left waiting)', async () => {
    const ac = new AbortController();
    let reads = 0;
    const s = sink(Date.now);
    const started = Date.now();
    const done = pumpProgress({ job: async () => (reads++, view()) }, s, { pollMs: 60_000, everyMs: 120_000, signal: ac.signal });
    await new Promise((r) => setTimeout(r, 30));
    ac.abort();
    const res = await done;
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    assert.equal(reads, 1);
    assert.equal(res.status, 'aborted');
    assert.equal(s.ended, true);
  });

  it('waits for a full socket buffer to drain before it polls again', async () => {
    const time = fakeTime();
    let release!: () => void;
    const drained = new Promise<void>((r) => (release = r));
    let full = true;
    const s = sink(time.now);
    const tight: SseSink = { write: (c) => (s.write(c), !full), drained: () => drained, end: () => s.end() };
    const src = source(time, (n) => (n < 3 ? view() : view({ status: 'completed', finishedAt: at(1500) })));
    const done = pumpProgress(src, tight, opts(time));
    await new Promise((r) => setImmediate(r));
    assert.equal(src.reads, 0, 'the retry line filled the buffer: no read until it drains');
    full = false;
    release();
    const res = await done;
    assert.equal(res.status, 'completed');
    assert.equal(src.reads, 4);
  });

  it('a read that fails: `event: error` in the stream, the end, and the error for the caller to log', async () => {
    const time = fakeTime();
    const s = sink(time.now);
    await assert.rejects(
      pumpProgress({ job: async () => Promise.reject(new Error('connection terminated')) }, s, opts(time)),
      /connection terminated/,
    );
    assert.deepEqual(messages(s).map((m) => m.event), ['error']);
    assert.equal(s.ended, true);
  });
});

describe('toProgress', () => {
  it('carries no params but durationSec: nothing of redactPatterns', () => {
    const p = toProgress(view({ type: 'ssl-capture', params: { type: 'ssl-capture', durationSec: 10, redactPatterns: ['secret-[0-9]+'], target: { comm: 'curl' } } }), T0 + 2500);
    const text = JSON.stringify(p);
    assert.ok(!text.includes('secret-') && !text.includes('redactPatterns') && !text.includes('params') && !text.includes('curl'), text);
    assert.equal(p.remainingSec, 7.5);
    assert.equal(p.elapsedSec, 2.5);
  });

  it('adds the counters a job type puts on its runs (ssl-capture: events), numbers only', () => {
    const ssl = { eventsSeen: 12, eventsSent: 11, eventsStored: 10, droppedKernel: 1, bytesStored: 900, noOpenssl: ['pid 7: no TLS library'], attached: ['libssl.so.3'], refusedByController: { events: 0, bytes: 0 }, reported: true } as unknown as SslRunView;
    const p = toProgress(view({ type: 'ssl-capture' }, [run({ ssl })]), T0);
    assert.deepEqual(p.nodes[0].ssl, { eventsSeen: 12, eventsSent: 11, eventsStored: 10, droppedKernel: 1, bytesStored: 900 });
    assert.equal(toProgress(view(), T0).nodes[0].ssl, undefined);
  });

  it('measures from startAt when the job has one (an incident\'s common attach time), and knows nothing before the start', () => {
    const incident = toProgress(view({ startAt: at(1000) }), T0 + 1500);
    assert.deepEqual([incident.elapsedSec, incident.remainingSec], [0.5, 3.5]);
    const ahead = toProgress(view({ startAt: at(1000) }), T0 + 200);
    assert.deepEqual([ahead.elapsedSec, ahead.remainingSec], [0, 4]);
    const queued = toProgress(view({ status: 'queued', startedAt: null }, [run({ status: 'pending', startedAt: null })]), T0);
    assert.deepEqual([queued.elapsedSec, queued.remainingSec], [null, null]);
    const late = toProgress(view(), T0 + 6000);
    assert.deepEqual([late.elapsedSec, late.remainingSec], [6, 0], 'past its duration while the last results arrive');
  });
});
