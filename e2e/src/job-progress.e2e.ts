/**
 * GET /jobs/:id/progress on a real stack: a cpu-profile job on a real agent watched as Server-Sent Events
 * from creation to its end (read with a streaming fetch and parsed here, as an EventSource would), the
 * errors before a stream starts, hostile ids and headers, and an ssl-capture job whose progress the
 * jobs-only token watches without seeing its redactPatterns.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { buildC, sleep, startStack, type Stack } from './harness';

interface Message {
  event: string;
  data: any;
  /** ms since the request was sent */
  at: number;
}

interface Watch {
  status: number;
  contentType: string;
  /** The body of an answer that is not a stream. */
  text: string;
  retry: number | null;
  messages: Message[];
  /** ms since the request was sent when the server ended the stream; null until then (or when the test gave up). */
  endedAt: number | null;
  /** Resolves once the stream has ended (or after timeoutMs, when it is aborted). */
  done: Promise<void>;
}

/** Opens an event stream and parses it as it arrives: `retry:`, `event:`, `data:` lines, comments skipped. */
async function watch(stack: Stack, path: string, opts: { token?: string | null; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Watch> {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? stack.apiToken}`;
  const ac = new AbortController();
  const sentAt = Date.now();
  const res = await fetch(`${stack.base}${path}`, { headers, signal: ac.signal });
  const w: Watch = { status: res.status, contentType: res.headers.get('content-type') ?? '', text: '', retry: null, messages: [], endedAt: null, done: Promise.resolve() };
  if (!w.contentType.startsWith('text/event-stream')) {
    w.text = await res.text();
    return w;
  }
  const frame = (text: string): void => {
    let event = 'message';
    const data: string[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) continue;
      const [field, value] = line.includes(':') ? [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).replace(/^ /, '')] : [line, ''];
      if (field === 'retry') w.retry = Number(value);
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) w.messages.push({ event, data: JSON.parse(data.join('\n')), at: Date.now() - sentAt });
  };
  w.done = (async () => {
    const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 60_000);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          frame(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
      }
      w.endedAt = Date.now() - sentAt;
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
    }
  })();
  return w;
}

const TERMINAL = ['completed', 'partial', 'failed', 'stopped'];

describe('GET /jobs/:id/progress: Server-Sent Events on a real stack', () => {
  let stack: Stack;
  let profiledJob = '';

  before(async () => {
    stack = await startStack();
  });
  after(() => stack?.stop());

  /** Profiles a program that spins for `seconds` (it ends by itself; killed sooner when the test is done) while `body` runs. */
  async function withHotProgram<T>(seconds: number, body: (pid: number) => Promise<T>): Promise<T> {
    const hot = spawn(buildC('hot'), [String(seconds)], { stdio: 'ignore' });
    try {
      await sleep(300);
      return await body(hot.pid!);
    } finally {
      if (hot.exitCode === null) hot.kill('SIGKILL');
    }
  }

  it('follows a 4 s cpu-profile job: at once, then at least every second, counts growing, the node running then completed, then status and the end', async (t) => {
    const w = await withHotProgram(15, async (pid) => {
      const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 4, frequencyHz: 99, target: { pid }, nodes: { names: [stack.nodeName] } });
      assert.equal(created.status, 201, created.text);
      profiledJob = created.json.id;
      const stream = await watch(stack, `/jobs/${profiledJob}/progress`);
      assert.equal(stream.status, 200, stream.text);
      assert.match(stream.contentType, /^text\/event-stream/);
      await stream.done;
      return stream;
    });
    assert.ok(w.endedAt !== null, `the stream did not end within 60 s: ${JSON.stringify(w.messages.slice(-2))}`);
    assert.ok(w.retry !== null && w.retry >= 1000, `retry: ${w.retry}`);

    const events = w.messages.map((m) => m.event);
    assert.deepEqual(events.slice(-2), ['progress', 'status'], `events: ${events.join(',')}`);
    assert.ok(events.slice(0, -1).every((e) => e === 'progress'), `events: ${events.join(',')}`);
    const progress = w.messages.filter((m) => m.event === 'progress');
    const running = progress.filter((m) => !TERMINAL.includes(m.data.status));
    const gaps = progress.slice(1).map((m, i) => m.at - progress[i].at);
    t.diagnostic(`first message after ${progress[0].at} ms; ${progress.length} progress messages over ${w.endedAt} ms; gaps (ms): ${gaps.join(' ')}`);

    assert.ok(progress[0].at <= 1000, `the first message came ${progress[0].at} ms after the request`);
    // Every gap that follows a message of the running job: the next one is due within a second.
    const runningGaps = progress.slice(1).filter((_, i) => !TERMINAL.includes(progress[i].data.status)).map((m, i) => m.at - running[i].at);
    assert.ok(runningGaps.length >= 4, `only ${runningGaps.length + 1} messages while the job ran`);
    assert.ok(Math.max(...runningGaps) <= 1500, `a gap of ${Math.max(...runningGaps)} ms between messages while the job ran: ${runningGaps}`);

    const stored = progress.map((m) => m.data.totals.samplesStored as number);
    assert.deepEqual(stored, [...stored].sort((a, b) => a - b), `samplesStored never goes back: ${stored}`);
    assert.ok(running.some((m) => m.data.totals.samplesStored > 0), `no samples stored while the job ran: ${stored}`);
    assert.ok(new Set(stored).size >= 3, `samplesStored grew in steps: ${stored}`);
    const final = progress.at(-1)!.data;
    assert.equal(final.status, 'completed', JSON.stringify(final));
    assert.ok(final.totals.samplesStored > 0);

    // Per node: this agent's node, from pending/dispatched/running to completed, its counts those of the totals.
    for (const m of progress) assert.deepEqual(m.data.nodes.map((n: { node: string }) => n.node), [stack.nodeName]);
    const states = progress.map((m) => m.data.nodes[0].status as string).filter((s, i, all) => i === 0 || all[i - 1] !== s);
    assert.ok(['pending', 'dispatched', 'running'].includes(states[0]), `node states: ${states}`);
    assert.ok(states.includes('running'), `node states: ${states}`);
    assert.equal(states.at(-1), 'completed', `node states: ${states}`);
    const node = final.nodes[0];
    assert.equal(node.samplesStored, final.totals.samplesStored);
    assert.equal(node.dropped, final.totals.samplesDroppedKernel + final.totals.samplesDroppedAgent + final.totals.samplesLostTransit);
    assert.ok(node.batchesReceived > 0 && node.samplesTaken >= node.samplesStored, JSON.stringify(node));

    // Elapsed and remaining: from the start, of the 4 s; none left once it has ended.
    const started = running.filter((m) => m.data.elapsedSec !== null);
    assert.ok(started.length >= 3, 'elapsedSec while running');
    for (const m of started) assert.ok(m.data.remainingSec >= 0 && m.data.remainingSec <= 4, JSON.stringify(m.data));
    const elapsed = started.map((m) => m.data.elapsedSec as number);
    assert.deepEqual(elapsed, [...elapsed].sort((a, b) => a - b), `elapsedSec: ${elapsed}`);
    assert.equal(final.remainingSec, null);
    assert.ok(final.elapsedSec >= 3.5, `elapsed at the end ${final.elapsedSec}`);
    assert.ok(!('params' in final), 'no params');

    // The final numbers are the job's; `status` names how it ended, then the stream ends.
    const job = (await stack.api('GET', `/jobs/${profiledJob}`)).json;
    assert.deepEqual(final.totals, job.totals);
    const status = w.messages.at(-1)!;
    assert.deepEqual(status.data, { status: 'completed', reason: null, finishedAt: job.finishedAt });
    assert.ok(w.endedAt! - status.at < 1000, `the stream ended ${w.endedAt! - status.at} ms after the status`);
  });

  it('answers 404 for an unknown job, 400 for an id that is not a UUID, 401 without a token, before any stream', async () => {
    const unknown = await watch(stack, `/jobs/${randomUUID()}/progress`);
    assert.equal(unknown.status, 404, unknown.text);
    assert.match(unknown.contentType, /application\/json/);
    const malformed = await watch(stack, '/jobs/not-a-uuid/progress');
    assert.equal(malformed.status, 400, malformed.text);
    assert.deepEqual(JSON.parse(malformed.text).message, ['id must be a UUID']);
    const anonymous = await watch(stack, `/jobs/${randomUUID()}/progress`, { token: null });
    assert.equal(anonymous.status, 401, anonymous.text);
    const wrong = await watch(stack, `/jobs/${randomUUID()}/progress`, { token: randomBytes(24).toString('hex') });
    assert.equal(wrong.status, 401, wrong.text);
  });

  it('hostile ids and a huge Last-Event-ID: 400s, no stream, nothing harmed', async () => {
    const uuid = randomUUID();
    const ids = [
      `${uuid}'; DROP TABLE "Job"; --`,
      `${uuid}' OR '1'='1`,
      '..%2F..%2Fhealth',
      `${uuid}%00`,
      `${uuid}%0A`,
      `${uuid.slice(0, 35)}%25`,
      'a'.repeat(4000),
      encodeURIComponent('<script>alert(1)</script>'),
    ];
    for (const id of ids) {
      const res = await watch(stack, `/jobs/${id}/progress`);
      assert.equal(res.status, 400, `${id.slice(0, 60)}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.doesNotMatch(res.contentType, /event-stream/);
    }
    // The database is as it was: the job of the first case is still there.
    assert.ok(profiledJob, 'the first case ran');
    assert.equal((await stack.api('GET', `/jobs/${profiledJob}`)).status, 200);

    // Last-Event-ID means nothing to progress (each message is the whole state): 8 KiB of junk changes nothing.
    const junk = `${'9'.repeat(4096)}'; DROP TABLE "Job"; --${'x'.repeat(4000)}`;
    const w = await watch(stack, `/jobs/${profiledJob}/progress`, { headers: { 'last-event-id': junk }, timeoutMs: 10_000 });
    assert.equal(w.status, 200, w.text);
    await w.done;
    assert.deepEqual(w.messages.map((m) => m.event), ['progress', 'status']);
    assert.equal(w.messages[1].data.status, 'completed');
    assert.ok(w.endedAt !== null, 'an ended job\'s stream ends at once');
    // Past Node's header limit the HTTP server refuses it (431) before the route; the controller goes on.
    const huge = await fetch(`${stack.base}/jobs/${profiledJob}/progress`, { headers: { authorization: `Bearer ${stack.apiToken}`, 'last-event-id': 'x'.repeat(128 * 1024) } }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    assert.notEqual(huge, 200, 'a 128 KiB header is not served');
    assert.equal((await fetch(`${stack.base}/health`)).status, 200);
  });

  it('lets the jobs-only token watch an ssl-capture job: its counters, never its redactPatterns', async () => {
    const marker = `tfsecret${randomBytes(4).toString('hex')}`;
    const created = await stack.api(
      'POST',
      '/jobs',
      { type: 'ssl-capture', durationSec: 2, maxDataBytes: 4096, target: { comm: `tf-none-${randomBytes(3).toString('hex')}` }, redactPatterns: [`${marker}[0-9]+`], nodes: { names: [stack.nodeName] } },
      stack.captureToken,
    );
    assert.equal(created.status, 201, created.text);
    const w = await watch(stack, `/jobs/${created.json.id}/progress`, { token: stack.apiToken });
    assert.equal(w.status, 200, w.text);
    await w.done;
    assert.ok(w.endedAt !== null, 'the stream ended');
    const text = JSON.stringify(w.messages);
    assert.ok(!text.includes(marker) && !text.includes('redactPatterns') && !text.includes('"params"'), text.slice(0, 2000));
    const status = w.messages.at(-1)!;
    assert.equal(status.event, 'status');
    assert.ok(TERMINAL.includes(status.data.status), JSON.stringify(status.data));
    const final = w.messages.at(-2)!.data;
    assert.equal(final.type, 'ssl-capture');
    assert.equal(final.nodes[0].node, stack.nodeName);
    assert.equal(typeof final.nodes[0].ssl?.eventsStored, 'number', JSON.stringify(final.nodes[0]));
    assert.ok(Object.values(final.nodes[0].ssl).every((v) => typeof v === 'number'), JSON.stringify(final.nodes[0].ssl));
  });
});
