import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ApiClient, ApiError, errorMessage, parseSse } from './api';
import { fakeFetch, type Call } from './testing';

describe('ApiClient', () => {
  it('sends the bearer token and the query, and reads JSON', async () => {
    const calls: Call[] = [];
    const api = new ApiClient('http://127.0.0.1:8080', 'tok', fakeFetch({ 'GET /api/v1/nodes': { json: [{ name: 'n1' }] } }, calls));
    assert.deepEqual(await api.get('/nodes', { labelSelector: 'env=prod,zone in (a,b)', status: undefined }), [{ name: 'n1' }]);
    assert.equal(calls[0].headers.authorization, 'Bearer tok');
    assert.equal(calls[0].url.searchParams.get('labelSelector'), 'env=prod,zone in (a,b)');
    assert.equal(calls[0].url.searchParams.has('status'), false);
  });

  it("carries the API's status and message: the ValidationPipe's list joined", async () => {
    const api = new ApiClient('http://h', 't', fakeFetch({ 'POST /api/v1/jobs': { status: 400, json: { statusCode: 400, message: ['durationSec must not be greater than 86400'], error: 'Bad Request' } } }));
    await assert.rejects(api.post('/jobs', {}), (e: unknown) => e instanceof ApiError && e.status === 400 && e.message === '400 durationSec must not be greater than 86400');
    assert.equal(errorMessage(401, '{"statusCode":401,"message":"Unauthorized"}').message, 'Unauthorized');
    assert.equal(errorMessage(502, '<html>bad gateway</html>').message, '<html>bad gateway</html>');
    assert.equal(errorMessage(503, '').message, 'error');
  });

  it('names the URL and the cause when the controller cannot be reached', async () => {
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    }) as unknown as typeof fetch;
    const api = new ApiClient('http://127.0.0.1:1', undefined, refused);
    await assert.rejects(api.get('/nodes'), /^Error: cannot reach http:\/\/127\.0\.0\.1:1\/api\/v1\/nodes: ECONNREFUSED$/);
  });

  it('really fails to reach a closed port the same way', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const api = new ApiClient(`http://127.0.0.1:${port}`, undefined);
    await assert.rejects(api.get('/nodes'), new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}/api/v1/nodes: ECONNREFUSED`));
  });
});

describe('parseSse', () => {
  it('splits events across chunk boundaries and skips comments and retry lines', async () => {
    async function* chunks(): AsyncGenerator<string> {
      yield 'retry: 900\n\nevent: prog';
      yield 'ress\ndata: {"a":1}\n\n: keepalive\n\nid: 7\nevent: ssl\ndata: {"b"';
      yield ':2}\n\nevent: status\ndata: {"status":"completed"}\n\n';
    }
    const out = [];
    for await (const e of parseSse(chunks())) out.push(e);
    assert.deepEqual(out, [
      { event: 'progress', data: '{"a":1}' },
      { event: 'ssl', data: '{"b":2}', id: '7' },
      { event: 'status', data: '{"status":"completed"}' },
    ]);
  });
});
