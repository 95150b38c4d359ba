// Names for frames that DWARF unwinding reaches in stripped code: MiniDebugInfo (.gnu_debugdata,
// the xz-compressed symbol table Fedora-style distributions ship) and separate debuginfo from a
// debuginfod server (here a small HTTP server on 127.0.0.1 in a child process, fetched by the
// Unwinder while it builds tables, then found by the Symbolizer's libdwfl in the client cache).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { CFA_RULE, Symbolizer, Unwinder, unwindTable } from './index';
import { profileFor, runUntilReady, tempDir, waitForExit } from './spec-support';

const CHAIN_SOURCE = path.resolve(__dirname, '..', '..', 'e2e', 'fixtures', 'unwind', 'chain.c');
const CHAIN = ['tf_a', 'tf_b', 'tf_c'];

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });
}

function buildFpless(dir: string, name: string): string {
  const out = path.join(dir, name);
  sh('gcc', ['-O2', '-fomit-frame-pointer', '-g', '-Wl,--build-id', '-o', out, CHAIN_SOURCE]);
  return out;
}

function buildId(file: string): string {
  const m = /Build ID:\s*([0-9a-f]+)/.exec(sh('readelf', ['-n', file]));
  if (!m) throw new Error(`${file} has no build-id`);
  return m[1];
}

function hasTfSymbols(file: string): boolean {
  const out = execFileSync('nm', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return /\btf_c\b/.test(out);
}

/** Profiles pid for 1.5 s with the unwinder and returns the symbolized user stacks, root first. */
async function namedStacks(unwinder: Unwinder, pid: number): Promise<string[][]> {
  await unwinder.addProcess(pid);
  const { samples } = await profileFor({ frequencyHz: 99, targetPid: pid, unwinder }, 1500);
  const symbolizer = new Symbolizer();
  try {
    return samples.map((s) => symbolizer.symbolizeUser(s.pid, s.userStack).reverse());
  } finally {
    symbolizer.close();
  }
}

const withChain = (stacks: string[][]): number => stacks.filter((f) => CHAIN.every((n) => f.includes(n))).length;

describe('a binary whose CFI is in .debug_frame (built -fno-asynchronous-unwind-tables -g)', () => {
  const dir = tempDir('debugframe');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('its functions get rows from .debug_frame, next to the crt objects\' .eh_frame', () => {
    const bin = path.join(dir, 'chain-debugframe');
    sh('gcc', ['-O2', '-fomit-frame-pointer', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-g', '-o', bin, CHAIN_SOURCE]);
    const sections = sh('readelf', ['-SW', bin]);
    assert.match(sections, /\.debug_frame/);
    const table = unwindTable(bin);
    assert.equal(table.source, '.eh_frame+.debug_frame');
    const sym = /^([0-9a-f]+) T tf_c$/m.exec(sh('nm', [bin]));
    assert.ok(sym, 'tf_c not in the symbol table');
    const pc = BigInt(`0x${sym[1]}`);
    const row = [...table.rows].reverse().find((r) => r.pc <= pc);
    assert.ok(row && row.cfaRule === CFA_RULE.rsp && row.cfaOffset === 8, `row at tf_c: ${JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
  });
});

describe('names of stripped code for unwound frames', () => {
  const dir = tempDir('debuginfo');
  const children: ChildProcess[] = [];
  const savedEnv = { urls: process.env.DEBUGINFOD_URLS, cache: process.env.DEBUGINFOD_CACHE_PATH };
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (savedEnv.urls === undefined) delete process.env.DEBUGINFOD_URLS;
    else process.env.DEBUGINFOD_URLS = savedEnv.urls;
    if (savedEnv.cache === undefined) delete process.env.DEBUGINFOD_CACHE_PATH;
    else process.env.DEBUGINFOD_CACHE_PATH = savedEnv.cache;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('MiniDebugInfo (.gnu_debugdata) names the functions of a binary stripped of .symtab', async () => {
    const bin = buildFpless(dir, 'chain-mini');
    // The distributions' recipe: the function symbols that .dynsym lacks, in an xz-compressed ELF.
    const keep = path.join(dir, 'keep');
    const funcs = sh('nm', [bin, '--format=posix', '--defined-only'])
      .split('\n')
      .filter((l) => / [Tt] /.test(l))
      .map((l) => l.split(' ')[0]);
    fs.writeFileSync(keep, funcs.join('\n') + '\n');
    const debug = path.join(dir, 'chain-mini.debug');
    const mini = path.join(dir, 'mini_debuginfo');
    sh('objcopy', ['--only-keep-debug', bin, debug]);
    sh('objcopy', ['-S', '--remove-section', '.gdb_index', '--remove-section', '.comment', `--keep-symbols=${keep}`, debug, mini]);
    sh('strip', ['--strip-all', '-R', '.comment', bin]);
    sh('xz', ['-f', mini]);
    sh('objcopy', ['--add-section', `.gnu_debugdata=${mini}.xz`, bin]);
    assert.equal(hasTfSymbols(bin), false, 'the binary still has a .symtab with tf_ symbols');
    assert.match(sh('readelf', ['-SW', bin]), /\.gnu_debugdata/);

    const child = await runUntilReady(bin, ['0']);
    children.push(child);
    const unwinder = new Unwinder();
    try {
      const stacks = await namedStacks(unwinder, child.pid!);
      assert.ok(stacks.length > 50, `only ${stacks.length} samples`);
      const named = withChain(stacks);
      assert.ok(named / stacks.length > 0.3, `${named} of ${stacks.length} stacks name tf_a → tf_b → tf_c:\n${stacks.slice(0, 5).map((s) => s.join(';')).join('\n')}`);
    } finally {
      unwinder.close();
      child.kill('SIGKILL');
      await waitForExit(child);
    }
  });

  test('a debuginfod server on 127.0.0.1 gives the debuginfo of a stripped binary: names appear', async () => {
    const bin = buildFpless(dir, 'chain-dbgd');
    const id = buildId(bin);
    const debug = path.join(dir, `${id}.debug`);
    sh('objcopy', ['--only-keep-debug', bin, debug]);
    sh('strip', ['--strip-all', bin]);
    const debugCopy = `${debug}.good`;
    fs.copyFileSync(debug, debugCopy);
    assert.equal(hasTfSymbols(bin), false);
    assert.equal(fs.existsSync(`/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`), false);

    const child = await runUntilReady(bin, ['0']);
    children.push(child);
    // Without a server: module+offset only.
    delete process.env.DEBUGINFOD_URLS;
    let unwinder = new Unwinder();
    try {
      const stacks = await namedStacks(unwinder, child.pid!);
      assert.equal(withChain(stacks), 0, 'names appeared without debuginfo');
      assert.equal(unwinder.stats().debuginfoFetched, 0);
    } finally {
      unwinder.close();
    }

    // The debuginfod protocol's one request we need: GET /buildid/<id>/debuginfo. In a child: the
    // fetch blocks the thread that makes it, and this test's event loop must not be that server.
    const requests = path.join(dir, 'requests.log');
    const server = spawn(
      process.execPath,
      [
        '-e',
        `const http = require('http'), fs = require('fs');
         const srv = http.createServer((req, res) => {
           fs.appendFileSync(${JSON.stringify(requests)}, req.url + '\\n');
           const m = /^\\/buildid\\/([0-9a-f]+)\\/debuginfo$/.exec(req.url);
           const file = m && require('path').join(${JSON.stringify(dir)}, m[1] + '.debug');
           if (!file || !fs.existsSync(file)) { res.writeHead(404); return res.end(); }
           res.writeHead(200, { 'content-type': 'application/octet-stream' });
           fs.createReadStream(file).pipe(res);
         });
         srv.listen(0, '127.0.0.1', () => console.log('port ' + srv.address().port));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(server);
    const port = await new Promise<number>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`debuginfod stand-in exited (${code})`)));
      server.stdout!.on('data', (d: Buffer) => {
        const m = /port (\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
    });
    process.env.DEBUGINFOD_URLS = `http://127.0.0.1:${port}`;

    // A hostile server: random bytes under this build-id. Counted as fetched, never a name, never a crash.
    fs.writeFileSync(path.join(dir, `${id}.debug`), crypto.randomBytes(64 * 1024));
    process.env.DEBUGINFOD_CACHE_PATH = path.join(dir, 'cache-garbage');
    unwinder = new Unwinder();
    try {
      const stacks = await namedStacks(unwinder, child.pid!);
      assert.ok(stacks.length > 50, `only ${stacks.length} samples`);
      assert.equal(withChain(stacks), 0, 'names appeared from garbage debuginfo');
      assert.equal(unwinder.stats().debuginfoFetched, 1, JSON.stringify(unwinder.stats()));
    } finally {
      unwinder.close();
    }

    fs.copyFileSync(debugCopy, path.join(dir, `${id}.debug`));
    process.env.DEBUGINFOD_CACHE_PATH = path.join(dir, 'cache');
    unwinder = new Unwinder();
    try {
      const stacks = await namedStacks(unwinder, child.pid!);
      assert.ok(unwinder.stats().debuginfoFetched >= 1, JSON.stringify(unwinder.stats()));
      assert.match(fs.readFileSync(requests, 'utf8'), new RegExp(`/buildid/${id}/debuginfo`));
      const named = withChain(stacks);
      assert.ok(named / stacks.length > 0.3, `${named} of ${stacks.length} stacks name tf_a → tf_b → tf_c:\n${stacks.slice(0, 5).map((s) => s.join(';')).join('\n')}`);
    } finally {
      unwinder.close();
      child.kill('SIGKILL');
      server.kill('SIGKILL');
      await waitForExit(child);
    }
  });
});
