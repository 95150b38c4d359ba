// HTTP summaries of headers-only captures: the kernel keeps only calls that start an HTTP/1 message
// (their head), and the next kept call of a direction carries the bytes skipped before it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { H2_PREFACE } from './h2-stream';
import { summarizeConnection, type ConnectionSummary, type SslSegment } from './http-parse';

let clock = 0n;
/** A kept call: `data` captured of `length` moved (a head cut after its blank line is truncated), after `skippedBytes` skipped. */
function ev(direction: 'read' | 'write', text: string | Buffer, over: Partial<SslSegment> & { body?: number } = {}): SslSegment {
  const { body = 0, ...rest } = over;
  const data = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  clock += 1000n;
  return { direction, data, length: data.length + body, truncated: body > 0, tsNs: clock, ...rest };
}

const headers = (events: SslSegment[]): ConnectionSummary => summarizeConnection(events, undefined, { headersOnly: true });

function http1(s: ConnectionSummary) {
  assert.ok(s.protocol === 'http/1.1' || s.protocol === 'http/1.0', `expected http/1.x, got ${s.protocol}`);
  return s;
}

describe('http-parse: skipped bytes (headers-only capture)', () => {
  it('counts the skipped rest of a Content-Length body, then parses the next head', () => {
    const resHead = 'HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n';
    const next = 'HTTP/1.1 204 No Content\r\n\r\n';
    const [big, after] = ['GET /big HTTP/1.1\r\nHost: h\r\n\r\n', 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n'];
    const events = [
      ev('write', big, { tsNs: 10n }),
      // The head's call also moved the body's first 1,000 bytes.
      ev('read', resHead, { body: 1000, tsNs: 20n }),
      ev('write', after, { tsNs: 30n }),
      // Four calls with the body's other 64,536 bytes were skipped.
      ev('read', next, { skippedBytes: 65536 - 1000, skippedCalls: 4, tsNs: 40n }),
    ];
    for (const s of [headers(events), summarizeConnection(events)]) {
      const h = http1(s);
      assert.deepEqual(
        h.exchanges.map((x) => [x.path, x.status, x.complete]),
        [
          ['/big', 200, true],
          ['/next', 204, true],
        ],
      );
      assert.deepEqual(h.exchanges[0].response?.body, { framing: 'content-length', bytes: 65536, complete: true });
      // The skipped calls' times are not known: the response's last byte stays at its head's call.
      assert.equal(h.exchanges[0].response?.lastTsNs, '20');
      assert.equal(h.exchanges[0].latencyNs, '10');
      assert.equal(h.unparsedBytes, 0);
      assert.deepEqual(h.bytes, { read: resHead.length + 65536 + next.length, write: big.length + after.length });
      assert.deepEqual(h.notes, ['headers-only capture: 4 calls, 64536 bytes of bodies were not captured']);
    }
  });

  it('a request body skipped until the next request: complete then, latency from its head', () => {
    const s = http1(
      headers([
        ev('read', 'POST /up HTTP/1.1\r\nContent-Length: 10000\r\n\r\n', { body: 500, tsNs: 1n }),
        ev('write', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n', { tsNs: 5n }),
        ev('read', 'GET /x HTTP/1.1\r\n\r\n', { skippedBytes: 9500, skippedCalls: 3, tsNs: 9n }),
        ev('write', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { tsNs: 10n }),
      ]),
    );
    assert.equal(s.role, 'server');
    assert.deepEqual(s.exchanges[0].request?.body, { framing: 'content-length', bytes: 10000, complete: true });
    assert.equal(s.exchanges[0].latencyNs, '4');
    assert.ok(s.exchanges.every((x) => x.complete));
    assert.equal(s.unparsedBytes, 0);
  });

  it('the last body of a connection stays incomplete: no later call carries its skipped bytes', () => {
    const s = http1(headers([ev('write', 'GET / HTTP/1.1\r\n\r\n'), ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n', { body: 100 })]));
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'content-length', bytes: 5000, complete: false });
    assert.deepEqual(s.notes, []);
  });

  it('a head that redaction made longer: the next kept head still starts a message', () => {
    // "X-Api-Key: " had an empty value: "[REDACTED]" adds 10 bytes, so the hole after the head is 10 short.
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Api-Key: [REDACTED]\r\n\r\n';
    const events = [
      ev('write', 'GET /a HTTP/1.1\r\n\r\n'),
      { ...ev('read', head), length: head.length - 10 + 100, truncated: true, tsNs: clock },
      ev('write', 'GET /b HTTP/1.1\r\n\r\n'),
      ev('read', 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'),
    ];
    const s = http1(headers(events));
    assert.deepEqual(
      s.exchanges.map((x) => [x.path, x.status, x.complete]),
      [
        ['/a', 200, true],
        ['/b', 404, true],
      ],
    );
    assert.equal(s.unparsedBytes, 0);
    // A full capture cannot assume it: there, those bytes are body.
    const full = http1(summarizeConnection(events));
    assert.notEqual(full.exchanges[1]?.status, 404);
  });

  it('a head that redaction made shorter: the surplus is unparsed, the next head is parsed', () => {
    // The Authorization value was 30 bytes longer than "[REDACTED]": the hole after the head is 30 too long.
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nAuthorization: [REDACTED]\r\n\r\n';
    const s = http1(
      headers([
        ev('write', 'GET /a HTTP/1.1\r\n\r\n'),
        { ...ev('read', head), length: head.length + 30 + 200, truncated: true, tsNs: clock },
        ev('write', 'GET /b HTTP/1.1\r\n\r\n'),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { skippedBytes: 800, skippedCalls: 1 }),
      ]),
    );
    assert.deepEqual(s.exchanges.map((x) => x.complete), [true, true]);
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'content-length', bytes: 1000, complete: true });
    assert.equal(s.unparsedBytes, 30);
  });

  it('chunked framing across skipped bytes cannot be followed: the body ends incomplete, parsing resyncs at the next head', () => {
    const s = http1(
      headers([
        // The request head is a call of its own; its chunked body came in skipped calls.
        ev('write', 'POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'),
        ev('read', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', { body: 300 }),
        ev('write', 'GET /next HTTP/1.1\r\n\r\n', { skippedBytes: 2000, skippedCalls: 2 }),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n', { body: 2, skippedBytes: 5000, skippedCalls: 5 }),
      ]),
    );
    assert.deepEqual(
      s.exchanges.map((x) => [x.path, x.status, x.complete]),
      [
        ['/up', 200, false],
        ['/next', 200, true],
      ],
    );
    assert.deepEqual(s.exchanges[0].request?.body, { framing: 'chunked', bytes: 0, complete: false });
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'chunked', bytes: 0, complete: false });
    assert.deepEqual(s.exchanges[1].response?.body, { framing: 'content-length', bytes: 2, complete: true });
    assert.equal(s.unparsedBytes, 300 + 2000 + 5000);
    assert.ok(s.notes.includes('request body: uncaptured bytes inside chunked framing; parsing resumed at the next call that starts a message'));
    assert.ok(s.notes.includes('response body: uncaptured bytes inside chunked framing; parsing resumed at the next call that starts a message'));
    assert.ok(s.notes.includes('headers-only capture: 7 calls, 7000 bytes of bodies were not captured'));
  });

  it('skipped bytes inside a head lose it (kept as partial); before the first message they are unparsed', () => {
    const s = http1(
      headers([
        ev('write', 'GET /a HTTP/1.1\r\nHost: h\r\nX-Lo'),
        ev('write', 'GET /b HTTP/1.1\r\n\r\n', { skippedBytes: 50, skippedCalls: 1 }),
        // The read direction's first kept call: what was skipped before it belongs to no known message.
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { skippedBytes: 70, skippedCalls: 2 }),
      ]),
    );
    assert.deepEqual(s.exchanges.map((x) => [x.path, x.request?.headersComplete]), [
      ['/a', false],
      ['/b', true],
    ]);
    assert.ok(s.notes.includes('plaintext was not captured (calls skipped by the headers-only capture); parsing resumed at the next call that starts a message'));
    // The partial head is reported (not unparsed); the skipped bytes are.
    assert.equal(s.unparsedBytes, 50 + 70);
  });

  it('skipped bytes of connections whose protocol is never known are unparsed and noted', () => {
    const s = headers([ev('write', 'hello', { skippedBytes: 10, skippedCalls: 1 }), ev('read', Buffer.alloc(0), { skippedBytes: 7, skippedCalls: 1 })]);
    assert.equal(s.protocol, 'unknown');
    assert.deepEqual(s.bytes, { read: 7, write: 15 });
    assert.equal(s.unparsedBytes, 22);
    assert.deepEqual(s.notes, ['headers-only capture: 2 calls, 17 bytes of bodies were not captured']);
  });

  it('HTTP/2: skipped bytes inside a payload are skipped, elsewhere they stop the direction', () => {
    const frame = (type: number, stream: number, len: number, payload = Buffer.alloc(len)): Buffer => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(len, 0, 3);
      h[3] = type;
      h.writeUInt32BE(stream, 5);
      return Buffer.concat([h, payload]);
    };
    const s = summarizeConnection([
      ev('write', Buffer.concat([H2_PREFACE, frame(4, 0, 0), frame(0, 1, 1000).subarray(0, 109)])),
      ev('write', frame(1, 1, 3), { skippedBytes: 900, skippedCalls: 1 }),
      ev('read', frame(4, 0, 0)),
      ev('read', frame(4, 0, 0), { skippedBytes: 5, skippedCalls: 1 }),
    ]);
    assert.equal(s.protocol, 'h2');
    if (s.protocol !== 'h2') return;
    assert.deepEqual(s.frames.map((f) => `${f.direction} ${f.type} ${f.length}`), ['write SETTINGS 0', 'write DATA 1000', 'write HEADERS 3', 'read SETTINGS 0']);
    assert.ok(s.notes.includes('read: uncaptured bytes broke HTTP/2 framing; later frames in this direction are not reported'));
    assert.equal(s.unparsedBytes, 5 + 9);
  });
});
