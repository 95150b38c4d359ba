import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, WORK, sleep, startRunningJob, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchCollecting, selfSignedCert, type Launched } from './processes';

const NODE = '/usr/bin/node';
const CURL = '/usr/bin/curl';
/** Catastrophic for a backtracking engine: (\w+\s?)+ can split a word in 2^(n-1) ways. */
const CATASTROPHIC = '"token":\\s*"(\\w+\\s?)+"';
/** 34 characters a remote client controls: JavaScript's RegExp spent 0.3–2 s on it here, doubling per extra `a`. */
const ADVERSARIAL_34 = `"token":"${'a'.repeat(25)}`;
/** The same shape, 4 KiB long: a backtracking engine would never finish it. */
const ADVERSARIAL_4K = `"token":"${'a'.repeat(4096)}`;

interface SslEventView {
  pid: number;
  comm: string;
  direction: string;
  redactions: number;
  dataBase64: string;
}

interface NodeView {
  name: string;
  status: string;
  lastSeenAt: string;
}

describe('redactPatterns: RE2 on the controller and the agent, end to end', () => {
  let stack: Stack;
  let server: Launched;
  let port = 0;
  const dir = join(WORK, `redaction-${process.pid}`);

  before(async () => {
    for (const f of [NODE, CURL]) if (!existsSync(f)) throw new Error(`${f} is missing: npm run setup installs curl and nodejs`);
    mkdirSync(dir, { recursive: true });
    const cert = selfSignedCert(dir);
    server = launchCollecting([], NODE, [join(FIXTURES, 'tls_echo_server.js'), cert.cert, cert.key]);
    await waitFor(async () => /"port":\d+/.test(server.output()), 10_000, 'the TLS test server');
    port = JSON.parse(server.output().split('\n')[0]).port;
    stack = await startStack();
  });

  after(async () => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const capture = (path: string, method = 'GET', body?: unknown) => stack.api(method, path, body, stack.captureToken);

  it('refuses a backreference, a lookahead and a lookbehind with a 400 naming the pattern, on every way in', async () => {
    const job = { type: 'ssl-capture', durationSec: 2, target: { comm: 'curl' }, redactPatterns: ['sk_live_\\w+', '(a)\\1'] };
    const post = await capture('/jobs', 'POST', { ...job, nodes: 'all' });
    assert.equal(post.status, 400, post.text);
    assert.deepEqual(post.json.message, ['redactPatterns[1] "(a)\\1" is refused: backreferences are not supported (RE2 syntax)']);

    const look = await capture('/jobs', 'POST', { ...job, redactPatterns: ['(?=x)y', '(?<=key=)\\w+'], nodes: 'all' });
    assert.equal(look.status, 400, look.text);
    assert.deepEqual(look.json.message, ['redactPatterns[0] "(?=x)y" is refused: lookahead is not supported (RE2 syntax)']);
    const behind = await capture('/jobs', 'POST', { ...job, redactPatterns: ['(?<=key=)\\w+'], nodes: 'all' });
    assert.deepEqual(behind.json.message, ['redactPatterns[0] "(?<=key=)\\w+" is refused: lookbehind is not supported (RE2 syntax)']);

    const incident = await capture('/incidents', 'POST', { nodes: { names: [stack.nodeName] }, bundle: [{ type: 'cpu-profile', durationSec: 1, target: { all: true } }, job] });
    assert.equal(incident.status, 400, incident.text);
    assert.deepEqual(incident.json.message, ['bundle[1].redactPatterns[1] "(a)\\1" is refused: backreferences are not supported (RE2 syntax)']);

    const schedule = await capture('/schedules', 'POST', { everyMs: 3_600_000, nodes: { names: [stack.nodeName] }, job });
    assert.equal(schedule.status, 400, schedule.text);
    assert.deepEqual(schedule.json.message, ['job[0].redactPatterns[1] "(a)\\1" is refused: backreferences are not supported (RE2 syntax)']);
    const none = (await stack.api('GET', '/schedules')).json as { bundle?: unknown }[];
    assert.ok(!JSON.stringify(none).includes('(a)\\\\1'), 'the refused schedule was stored');
  });

  it('runs the catastrophic pattern over adversarial bytes from a real TLS client: the job completes, the node keeps heartbeating, the real match is redacted', async () => {
    const m = randomBytes(6).toString('hex');
    const path = `/r/${m}`;
    const secret = `s3cr3t ${randomBytes(8).toString('hex')}`;
    const body = `{"a":${ADVERSARIAL_34},"b":${ADVERSARIAL_4K},"m":"${m}","token": "${secret}"}`;
    const bodyFile = join(dir, `body-${m}`);
    writeFileSync(bodyFile, body);

    const id = await startRunningJob(
      stack,
      // This node only: the e2e database is shared, and nodes of other stacks may still be listed as connected.
      { type: 'ssl-capture', durationSec: 6, target: { comm: 'curl' }, maxDataBytes: 16384, redactPatterns: [CATASTROPHIC], nodes: { names: [stack.nodeName] } },
      stack.captureToken,
    );

    // The node as the controller sees it, polled for the whole job.
    const seen: NodeView[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const res = await stack.api('GET', `/nodes/${stack.nodeName}`);
        assert.equal(res.status, 200, res.text);
        seen.push(res.json as NodeView);
        await sleep(250);
      }
    })();

    try {
      for (let i = 0; i < 3; i++) {
        const curl = spawnSync(CURL, ['-sk', '--http1.1', '-H', 'Content-Type: application/json', '--data-binary', `@${bodyFile}`, `https://127.0.0.1:${port}${path}`], {
          encoding: 'utf8',
          timeout: 20_000,
        });
        assert.equal(curl.status, 0, curl.stderr);
        assert.equal(curl.stdout, `response-for-${m}\n`);
        await sleep(500);
      }
      const job = await waitJob(stack, id, 40_000);
      assert.equal(job.status, 'completed', JSON.stringify(job.runs));
    } finally {
      polling = false;
      await poller;
    }

    // Heartbeats went on while the agent redacted: connected at every poll, lastSeenAt moving on.
    assert.ok(seen.length >= 10, `only ${seen.length} polls`);
    assert.deepEqual([...new Set(seen.map((n) => n.status))], ['connected']);
    const beats = new Set(seen.map((n) => n.lastSeenAt));
    assert.ok(beats.size >= 4, `lastSeenAt took ${beats.size} values over ${seen.length} polls: ${[...beats].join(', ')}`);

    const events: SslEventView[] = [];
    let after: string | null = null;
    do {
      const res = await capture(`/jobs/${id}/ssl-events?order=oldest&limit=1000${after ? `&after=${after}` : ''}`);
      assert.equal(res.status, 200, res.text);
      events.push(...res.json.events);
      after = res.json.nextCursor;
    } while (after);
    const mine = events.filter((e) => e.direction === 'write' && Buffer.from(e.dataBase64, 'base64').includes(`"m":"${m}"`));
    assert.equal(mine.length, 3, `writes with the body: ${events.length} events in all`);
    for (const e of mine) {
      const text = Buffer.from(e.dataBase64, 'base64').toString('latin1');
      // The one real match is gone; the adversarial parts, which do not match, are stored as sent.
      assert.ok(!text.includes(secret), 'the matching token is stored');
      assert.ok(text.includes(`"m":"${m}",[REDACTED]}`), text.slice(-200));
      assert.ok(text.includes(`{"a":${ADVERSARIAL_34},"b":${ADVERSARIAL_4K},`), 'the adversarial, non-matching bytes were changed');
      assert.equal(e.redactions, 1);
    }
  });
});
