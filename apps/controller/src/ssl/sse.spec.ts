import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pumpSse, type SseSink } from './sse';

interface Ev {
  id: string;
  text: string;
}

function sink(): SseSink & { out: string[]; ended: boolean } {
  const s = {
    out: [] as string[],
    ended: false,
    write(chunk: string) {
      s.out.push(chunk);
      return true;
    },
    drained: async () => undefined,
    end() {
      s.ended = true;
    },
  };
  return s;
}

/** Frames of an SSE body: [event name, data] (comments and retry lines aside). */
function frames(out: string[]): [string, string][] {
  return out
    .join('')
    .split('\n\n')
    .filter((f) => f.includes('data: '))
    .map((f) => [/^event: (.*)$/m.exec(f)?.[1] ?? 'message', /^data: (.*)$/m.exec(f)![1]]);
}

describe('pumpSse', () => {
  it('sends stored and new events in order, then the status when the job ends, then closes', async () => {
    const store: Ev[] = [{ id: '1', text: 'a' }];
    let polls = 0;
    const s = sink();
    const res = await pumpSse<Ev>(
      {
        fetch: async (after, n) => store.filter((e) => BigInt(e.id) > after).slice(0, n),
        job: async () => {
          polls++;
          if (polls === 2) store.push({ id: '2', text: 'b' }, { id: '3', text: 'c' });
          // Ends on the 3rd poll; an event stored just before the end must still go out.
          if (polls === 3) store.push({ id: '4', text: 'd' });
          return { terminal: polls >= 3, status: polls >= 3 ? 'completed' : 'running', reason: null, finishedAt: polls >= 3 ? '2026-01-01T00:00:00.000Z' : null };
        },
      },
      s,
      { after: 0n, pollMs: 1, heartbeatMs: 60_000, pageSize: 2, signal: new AbortController().signal },
    );
    const f = frames(s.out);
    assert.deepEqual(
      f.map(([e, d]) => (e === 'ssl' ? JSON.parse(d).text : e)),
      ['a', 'b', 'c', 'd', 'status'],
    );
    const status = JSON.parse(f[4][1]);
    assert.equal(status.status, 'completed');
    assert.equal(status.eventsSent, 4);
    assert.equal(status.lastEventId, '4');
    assert.match(s.out.join(''), /^retry: \d+\n\n/);
    assert.match(s.out.join(''), /id: 3\nevent: ssl\n/);
    assert.equal(s.ended, true);
    assert.deepEqual(res, { sent: 4, last: 4n });
  });

  it('resumes after the given id and honours the source filters', async () => {
    const s = sink();
    await pumpSse<Ev>(
      {
        fetch: async (after) => [{ id: '7', text: 'x' }, { id: '9', text: 'y' }].filter((e) => BigInt(e.id) > after),
        job: async () => ({ terminal: true, status: 'failed', reason: 'agent lost', finishedAt: null }),
      },
      s,
      { after: 7n, pollMs: 1, heartbeatMs: 60_000, pageSize: 10, signal: new AbortController().signal },
    );
    assert.deepEqual(frames(s.out).map(([e]) => e), ['ssl', 'status']);
    assert.equal(JSON.parse(frames(s.out)[1][1]).reason, 'agent lost');
  });

  it('sends heartbeats while idle and stops polling when the client goes away', async () => {
    const ac = new AbortController();
    const s = sink();
    let polls = 0;
    const done = pumpSse<Ev>(
      {
        fetch: async () => [],
        job: async () => {
          if (++polls === 5) ac.abort();
          return { terminal: false, status: 'running', reason: null, finishedAt: null };
        },
      },
      s,
      { after: 0n, pollMs: 2, heartbeatMs: 0, pageSize: 10, signal: ac.signal },
    );
    await done;
    const pollsAtStop = polls;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(polls, pollsAtStop, 'no polls after the disconnect');
    assert.ok(s.out.filter((c) => c.startsWith(': keepalive')).length >= 3);
    assert.equal(frames(s.out).length, 0, 'no status: the job did not end');
    assert.equal(s.ended, true);
  });

  it('says the job is gone when it was deleted', async () => {
    const s = sink();
    await pumpSse<Ev>({ fetch: async () => [], job: async () => undefined }, s, { after: 0n, pollMs: 1, heartbeatMs: 60_000, pageSize: 10, signal: new AbortController().signal });
    assert.equal(JSON.parse(frames(s.out)[0][1]).status, 'deleted');
  });

  it('waits for drain under backpressure, and reports a failure in the stream', async () => {
    let drains = 0;
    const s = sink();
    s.write = (chunk: string) => {
      s.out.push(chunk);
      return false;
    };
    s.drained = async () => {
      drains++;
    };
    await assert.rejects(
      pumpSse<Ev>(
        {
          fetch: async () => {
            throw new Error('db down');
          },
          job: async () => ({ terminal: false, status: 'running', reason: null, finishedAt: null }),
        },
        s,
        { after: 0n, pollMs: 1, heartbeatMs: 60_000, pageSize: 10, signal: new AbortController().signal },
      ),
      /db down/,
    );
    assert.ok(drains >= 1);
    assert.match(s.out.join(''), /event: error\ndata: .*reconnect with Last-Event-ID/);
    assert.equal(s.ended, true);
  });
});
