import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { addonPath, loadAddon } from './index';

test('the loader finds the built addon', () => {
  assert.ok(fs.existsSync(addonPath), addonPath);
  assert.equal(typeof loadAddon().Profiler, 'function');
});

test('a missing addon names the path tried and the build command', () => {
  assert.throws(
    () => loadAddon('/nonexistent/build/Release/tracefleet_native.node'),
    (err: unknown) =>
      err instanceof Error &&
      err.message.includes('/nonexistent/build/Release/tracefleet_native.node') &&
      err.message.includes('npm run build -w @tracefleet/native'),
  );
});

test('a file that is not an addon says so and how to rebuild', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tracefleet-loader-'));
  try {
    const bogus = path.join(dir, 'tracefleet_native.node');
    fs.writeFileSync(bogus, 'not an ELF file');
    assert.throws(
      () => loadAddon(bogus),
      (err: unknown) =>
        err instanceof Error &&
        err.message.startsWith(`@tracefleet/native: loading ${bogus} failed: `) &&
        err.message.includes('npm run build -w @tracefleet/native'),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
