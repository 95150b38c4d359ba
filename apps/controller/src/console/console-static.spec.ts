import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CONSOLE_HEADERS, mountConsole } from './console-static';

async function serve(dir: string | undefined): Promise<{ base: string; close: () => Promise<void>; complete: boolean }> {
  const app = express();
  const complete = mountConsole(app, dir);
  app.use((_req, res) => {
    res.status(404).send('nest would answer');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, complete, close: () => new Promise((r) => server.close(() => r())) };
}

describe('the console files the controller serves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tf-console-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app.css'), 'body{}');
  mkdirSync(join(dir, 'spec'));
  writeFileSync(join(dir, 'spec', 'model.spec.js'), 'secret');
  writeFileSync(join(dir, 'other.txt'), 'secret');

  it('serves index, script and style with a strict CSP, no framing, and nothing else from the folder', async () => {
    const s = await serve(dir);
    try {
      assert.equal(s.complete, true);
      const index = await fetch(`${s.base}/`);
      assert.equal(index.status, 200);
      assert.match(index.headers.get('content-type')!, /text\/html/);
      assert.equal(index.headers.get('content-security-policy'), CONSOLE_HEADERS['Content-Security-Policy']);
      assert.match(index.headers.get('content-security-policy')!, /script-src 'self';/);
      assert.match(index.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
      assert.equal(index.headers.get('x-frame-options'), 'DENY');
      assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
      assert.match(await (await fetch(`${s.base}/app.js`)).text(), /console\.log/);
      assert.match((await fetch(`${s.base}/app.css`)).headers.get('content-type')!, /text\/css/);
      for (const p of ['/spec/model.spec.js', '/other.txt', '/../package.json', '/%2e%2e/package.json', '/app.js/..%2fspec%2fmodel.spec.js', '/index.html%00']) {
        const res = await fetch(`${s.base}${p}`);
        assert.equal(res.status, 404, p);
        assert.doesNotMatch(await res.text(), /secret/, p);
      }
      assert.equal((await fetch(`${s.base}/`, { method: 'POST' })).status, 404, 'only GET (and HEAD)');
    } finally {
      await s.close();
    }
  });

  it('answers 503 with what to do when the console was not built, and the rest goes on', async () => {
    const s = await serve(join(dir, 'missing'));
    try {
      assert.equal(s.complete, false);
      const res = await fetch(`${s.base}/`);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /not built.*turbo run build.*\/api\/v1/s);
      assert.equal((await fetch(`${s.base}/api/v1/health`)).status, 404, 'other paths pass through');
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
