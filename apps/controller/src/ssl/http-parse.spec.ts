import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { H2_PREFACE } from './h2-stream';
import { ConnectionParser, summarizeConnection, type ConnectionSummary, type SslSegment } from './http-parse';
import { looksLikeStart, parseHead } from './http1-head';

let clock = 1000n;
/** A call that moved all of `text`, captured whole. */
function ev(direction: 'read' | 'write', text: string | Buffer, over: Partial<SslSegment> = {}): SslSegment {
  const data = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  clock += 1000n;
  return { direction, data, length: data.length, truncated: false, tsNs: clock, ...over };
}

function http1(s: ConnectionSummary) {
  assert.ok(s.protocol === 'http/1.1' || s.protocol === 'http/1.0', `expected http/1.x, got ${s.protocol}`);
  return s;
}

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

describe('http-parse: HTTP/1.x', () => {
  it('pairs a client request with its response and measures latency', () => {
    const req = ev('write', 'GET /api/items?id=1 HTTP/1.1\r\nHost: example.com\r\nAuthorization: [REDACTED]\r\n\r\n', { tsNs: 10_000n });
    const res = ev('read', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}', { tsNs: 15_000n });
    const s = http1(summarizeConnection([req, res]));
    assert.equal(s.protocol, 'http/1.1');
    assert.equal(s.role, 'client');
    assert.equal(s.exchanges.length, 1);
    const x = s.exchanges[0];
    assert.equal(x.protocol, 'http/1.1');
    assert.equal(x.method, 'GET');
    assert.equal(x.path, '/api/items?id=1');
    assert.equal(x.status, 200);
    assert.equal(x.reason, 'OK');
    assert.equal(x.request?.headers.host, 'example.com');
    assert.equal(x.request?.headers.authorization, '[REDACTED]', 'redacted values stay redacted');
    assert.deepEqual(x.response?.body, { framing: 'content-length', bytes: 11, complete: true });
    assert.deepEqual(x.request?.body, { framing: 'none', bytes: 0, complete: true });
    assert.equal(x.latencyNs, '5000');
    assert.equal(x.complete, true);
    assert.equal(s.unparsedBytes, 0);
  });

  it('sees a server: requests are read, responses written', () => {
    const s = http1(
      summarizeConnection([
        ev('read', 'POST /submit HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello', { tsNs: 100n }),
        ev('write', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n', { tsNs: 350n }),
      ]),
    );
    assert.equal(s.role, 'server');
    assert.equal(s.exchanges[0].method, 'POST');
    assert.equal(s.exchanges[0].status, 201);
    assert.deepEqual(s.exchanges[0].request?.body, { framing: 'content-length', bytes: 5, complete: true });
    assert.equal(s.exchanges[0].latencyNs, '250');
  });

  it('follows a message split across calls, even inside CRLFCRLF', () => {
    const s = http1(
      summarizeConnection([
        ev('write', 'GET /a HT'),
        ev('write', 'TP/1.1\r\nHost: x\r'),
        ev('write', '\n\r\n'),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-'),
        ev('read', 'Length: 10\r\n\r\n0123'),
        ev('read', '456789'),
      ]),
    );
    // The first call alone did not show a whole start line, so the role came from the second…
    // but the parser holds undecided calls and replays them: nothing is lost.
    assert.equal(s.exchanges.length, 1);
    assert.equal(s.exchanges[0].path, '/a');
    assert.equal(s.exchanges[0].request?.headers.host, 'x');
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'content-length', bytes: 10, complete: true });
    assert.equal(s.exchanges[0].complete, true);
  });

  it('pairs pipelined requests with responses in order', () => {
    const s = http1(
      summarizeConnection([
        ev('write', 'GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /3 HTTP/1.1\r\nHost: h\r\n\r\n', { tsNs: 1n }),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno', { tsNs: 5n }),
        // A HEAD response declares a length but has no body; the next bytes are a new response.
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n', { tsNs: 9n }),
      ]),
    );
    assert.deepEqual(
      s.exchanges.map((x) => [x.method, x.path, x.status]),
      [
        ['GET', '/1', 200],
        ['GET', '/2', 404],
        ['HEAD', '/3', 200],
      ],
    );
    assert.deepEqual(s.exchanges[2].response?.body, { framing: 'none', bytes: 0, complete: true });
    assert.deepEqual(s.exchanges.map((x) => x.latencyNs), ['4', '4', '8']);
    assert.ok(s.exchanges.every((x) => x.complete));
  });

  it('sums a chunked body split across calls, with trailers', () => {
    const s = http1(
      summarizeConnection([
        ev('write', 'POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'),
        ev('write', 'lo\r\n1'),
        ev('write', 'a;ext=1\r'),
        ev('write', '\n' + 'x'.repeat(26) + '\r\n0\r\nX-Checksum: 1\r\n\r\n'),
        ev('read', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'),
      ]),
    );
    assert.deepEqual(s.exchanges[0].request?.body, { framing: 'chunked', bytes: 31, complete: true });
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'chunked', bytes: 3, complete: true });
    assert.equal(s.exchanges[0].complete, true);
    assert.equal(s.unparsedBytes, 0);
  });

  it('reports partial messages as they stand at the end of the capture', () => {
    const s = http1(
      summarizeConnection([
        ev('write', 'GET /x HTTP/1.1\r\nHost: h\r\n\r\n'),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-some'),
        ev('write', 'GET /y HTTP/1.1\r\nHost: h\r\nAcc'),
      ]),
    );
    assert.equal(s.exchanges.length, 2);
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'content-length', bytes: 100, complete: false });
    assert.equal(s.exchanges[0].complete, false);
    assert.equal(s.exchanges[1].path, '/y');
    assert.equal(s.exchanges[1].request?.headersComplete, false);
    assert.equal(s.exchanges[1].request?.headers.host, 'h');
    assert.equal(s.exchanges[1].status, null);
    assert.equal(s.exchanges[1].latencyNs, null);
  });

  it('counts a body across truncated calls and resyncs after a hole in a head', () => {
    const body = 'B'.repeat(100);
    const resHead = 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n';
    const s = http1(
      summarizeConnection([
        ev('write', 'GET /big HTTP/1.1\r\n\r\n'),
        // 5,000-byte body, only the first 100 captured: the hole counts toward Content-Length.
        { ...ev('read', resHead + body), length: resHead.length + 5000, truncated: true },
        ev('write', 'GET /next HTTP/1.1\r\nCookie: '),
        { ...ev('write', 'a=b'), length: 500, truncated: true }, // a hole inside the head: lost
        ev('write', 'GET /after HTTP/1.1\r\n\r\n'),
        ev('read', 'HTTP/1.1 204 No Content\r\n\r\n'),
      ]),
    );
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'content-length', bytes: 5000, complete: true });
    assert.equal(s.exchanges[0].complete, true);
    assert.deepEqual(
      s.exchanges.map((x) => [x.path, x.status]),
      [
        ['/big', 200],
        ['/next', 204],
        ['/after', null],
      ],
      'the partial /next head is kept; responses pair in order, so 204 answers it',
    );
    assert.ok(s.notes.some((n) => /not captured/.test(n)));
    assert.ok(s.unparsedBytes >= 497);
  });

  it('skips what it cannot parse until a call starts a message (capture began mid-stream)', () => {
    const s = http1(
      summarizeConnection([
        ev('read', 'tail of an earlier body'),
        ev('write', 'GET /ok HTTP/1.0\r\n\r\n'),
        ev('read', 'HTTP/1.0 200 OK\r\n\r\nstream until close'),
        ev('read', ' and more'),
      ]),
    );
    assert.equal(s.protocol, 'http/1.0');
    assert.equal(s.exchanges.length, 1);
    assert.deepEqual(s.exchanges[0].response?.body, { framing: 'until-close', bytes: 27, complete: false });
    assert.equal(s.unparsedBytes, 'tail of an earlier body'.length);
  });

  it('handles 100-continue, and stops at an upgrade', () => {
    const s = http1(
      summarizeConnection([
        ev('write', 'PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n'),
        ev('read', 'HTTP/1.1 100 Continue\r\n\r\n'),
        ev('write', 'abc'),
        ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
        ev('write', 'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
        ev('read', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'),
        ev('write', '\x81\x85....binary'),
      ]),
    );
    assert.deepEqual(
      s.exchanges.map((x) => [x.method, x.status, x.interim]),
      [
        ['PUT', 200, [100]],
        ['GET', 101, []],
      ],
    );
    assert.ok(s.notes.some((n) => /switched protocols \(websocket\)/.test(n)));
  });

  it('responses without a captured request still appear', () => {
    const s = http1(summarizeConnection([ev('read', 'HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n')]));
    assert.equal(s.role, 'client');
    assert.equal(s.exchanges[0].method, null);
    assert.equal(s.exchanges[0].status, 500);
  });

  it('keeps the exchange list bounded', () => {
    const p = new ConnectionParser({ maxExchanges: 3 });
    for (let i = 0; i < 10; i++) {
      p.push(ev('write', `GET /${i} HTTP/1.1\r\n\r\n`));
      p.push(ev('read', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    }
    const s = http1(p.summary());
    assert.deepEqual(s.exchanges.map((x) => x.path), ['/7', '/8', '/9']);
    assert.equal(s.exchangesOmitted, 7);
  });

  it('recognizes start lines and heads', () => {
    assert.equal(looksLikeStart(Buffer.from('GET / HTTP/1.1\r\n'), 'request'), true);
    assert.equal(looksLikeStart(Buffer.from('GE'), 'request'), true);
    assert.equal(looksLikeStart(Buffer.from('get / HTTP/1.1\r\n'), 'request'), false);
    assert.equal(looksLikeStart(Buffer.from('PRI * HTTP/2.0\r\n'), 'request'), false);
    assert.equal(looksLikeStart(Buffer.from('HTT'), 'response'), true);
    assert.equal(looksLikeStart(Buffer.from('HTTP/2 200'), 'response'), false);
    assert.deepEqual(parseHead('HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nset-cookie: b\r\nX-Long: one\r\n two', 'response')?.headers, {
      'set-cookie': 'a, b',
      'x-long': 'one two',
    });
  });
});

describe('http-parse: HTTP/2', () => {
  const settings = frame(4, 0, 0, Buffer.alloc(12));
  const headers = frame(1, 0x4, 1, Buffer.from([0x82, 0x86, 0x84]));
  const data = frame(0, 0x1, 1, Buffer.from('{"q":1}'));

  it('reports frames after the client preface, both directions', () => {
    const s = summarizeConnection([
      ev('write', Buffer.concat([H2_PREFACE, settings, headers]), { tsNs: 1n }),
      ev('read', Buffer.concat([settings, frame(4, 0x1, 0, Buffer.alloc(0))]), { tsNs: 2n }),
      ev('write', data, { tsNs: 3n }),
      ev('read', frame(1, 0x4, 1, Buffer.from([0x88])), { tsNs: 4n }),
    ]);
    assert.equal(s.protocol, 'h2');
    if (s.protocol !== 'h2') return;
    assert.equal(s.role, 'client');
    assert.deepEqual(
      s.frames.map((f) => [f.direction, f.type, f.streamId, f.length, f.flags]),
      [
        ['write', 'SETTINGS', 0, 12, 0],
        ['write', 'HEADERS', 1, 3, 4],
        ['read', 'SETTINGS', 0, 12, 0],
        ['read', 'SETTINGS', 0, 0, 1],
        ['write', 'DATA', 1, 7, 1],
        ['read', 'HEADERS', 1, 1, 4],
      ],
    );
    assert.deepEqual(s.frameCounts, { SETTINGS: 3, HEADERS: 2, DATA: 1 });
    assert.equal(s.unparsedBytes, 0);
  });

  it('follows frames split across calls and across a truncated DATA payload', () => {
    const big = frame(0, 0, 3, Buffer.alloc(1000, 0x61));
    const s = summarizeConnection([
      // Server side: the preface is read.
      ev('read', Buffer.concat([H2_PREFACE.subarray(0, 20)])),
      ev('read', Buffer.concat([H2_PREFACE.subarray(20), settings.subarray(0, 4)])),
      ev('read', settings.subarray(4)),
      { ...ev('read', big.subarray(0, 109)), length: big.length, truncated: true },
      ev('read', frame(3, 0, 3, Buffer.alloc(4))),
      ev('write', Buffer.concat([settings, frame(7, 0, 0, Buffer.alloc(8)), frame(0xfa, 0, 0, Buffer.alloc(0))])),
    ]);
    assert.equal(s.protocol, 'h2');
    if (s.protocol !== 'h2') return;
    assert.equal(s.role, 'server');
    assert.deepEqual(
      s.frames.map((f) => `${f.direction} ${f.type} ${f.streamId} ${f.length}`),
      ['read SETTINGS 0 12', 'read DATA 3 1000', 'read RST_STREAM 3 4', 'write SETTINGS 0 12', 'write GOAWAY 0 8', 'write 0xfa 0 0'],
    );
  });

  it('stops a direction whose framing a hole broke, and bounds the frame list', () => {
    const p = new ConnectionParser({ maxFrames: 2 });
    p.push(ev('write', Buffer.concat([H2_PREFACE, settings])));
    p.push({ ...ev('write', settings.subarray(0, 5)), length: 40, truncated: true });
    p.push(ev('write', headers));
    for (let i = 0; i < 3; i++) p.push(ev('read', settings));
    const s = p.summary();
    assert.equal(s.protocol, 'h2');
    if (s.protocol !== 'h2') return;
    assert.equal(s.frames.length, 2);
    assert.equal(s.framesOmitted, 2);
    assert.deepEqual(s.frameCounts, { SETTINGS: 4 });
    assert.ok(s.notes.some((n) => /broke HTTP\/2 framing/.test(n)));
  });
});

describe('http-parse: other traffic', () => {
  it('reports unknown protocols without guessing', () => {
    const s = summarizeConnection([ev('write', '\x16\x03\x01binary'), ev('read', 'SSH-2.0-x'), { direction: 'handshake', data: new Uint8Array(), length: 0, truncated: false, tsNs: 1n }]);
    assert.equal(s.protocol, 'unknown');
    assert.equal(s.role, null);
    assert.deepEqual(s.bytes, { read: 9, write: 9 });
    assert.equal(s.unparsedBytes, 18);
  });
});
