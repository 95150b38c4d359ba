import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, test } from 'node:test';
import { Symbolizer, fixMallocThresholds } from './index';

/** This process's address of `symbol` of `file` (an ELF it maps), from nm -D, the PT_LOADs and /proc/self/maps. */
function ownAddressOf(file: string, symbol: string): bigint {
  const line = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8', maxBuffer: 256 << 20 })
    .split('\n')
    .find((l) => l.split(' ')[2]?.replace(/@.*$/, '') === symbol);
  assert.ok(line, `nm -D shows no ${symbol} in ${file}`);
  const vaddr = BigInt(`0x${line.split(' ')[0]}`);
  let fileOffset: bigint | undefined;
  for (const m of execFileSync('readelf', ['-lW', file], { encoding: 'utf8' }).matchAll(/^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)/gm)) {
    const [offset, start, size] = [BigInt(m[1]), BigInt(m[2]), BigInt(m[3])];
    if (vaddr >= start && vaddr < start + size) fileOffset = vaddr - start + offset;
  }
  assert.ok(fileOffset !== undefined, `${symbol} is in no PT_LOAD of ${file}`);
  for (const l of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const m = l.match(/^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \S+\s+(.*)$/);
    if (!m || m[4] !== file) continue;
    const [start, end, offset] = [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), BigInt(`0x${m[3]}`)];
    if (fileOffset >= offset && fileOffset < offset + (end - start)) return start + (fileOffset - offset);
  }
  assert.fail(`this process does not map offset 0x${fileOffset.toString(16)} of ${file}`);
}

function safeReadlink(path: string): string {
  try {
    return fs.readlinkSync(path);
  } catch {
    return '';
  }
}

/** Resident kB of this process's mappings of `file` with permissions `perms` (smaps). */
function residentKb(file: string, perms: RegExp, offsetZero: boolean): { kb: number; sizeKb: number } {
  let kb = 0;
  let sizeKb = 0;
  let inside = false;
  for (const l of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = l.match(/^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \S+\s+(.*)$/);
    if (head) {
      inside = head[5] === file && perms.test(head[3]) && (!offsetZero || parseInt(head[4], 16) === 0);
      if (inside) sizeKb += (parseInt(head[2], 16) - parseInt(head[1], 16)) / 1024;
      continue;
    }
    const rss = inside && l.match(/^Rss:\s+(\d+) kB/);
    if (rss) kb += Number(rss[1]);
  }
  return { kb, sizeKb };
}

describe('Symbolizer memory', () => {
  test('a file it indexed keeps no symbol-table pages resident, and its names stay right', () => {
    // Node's own binary: ~10 MiB of .symtab/.strtab (and .dynsym/.dynstr) read to index it.
    const node = fs.realpathSync(process.execPath);
    const symtabKb = (): number => {
      const sections = execFileSync('readelf', ['-SW', node], { encoding: 'utf8' });
      let total = 0;
      for (const m of sections.matchAll(/\.(?:symtab|strtab|dynsym|dynstr)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/g)) total += parseInt(m[1], 16);
      return total / 1024;
    };
    assert.ok(symtabKb() > 4096, `${node}'s symbol tables are ${symtabKb()} kB: too small for this check`);
    const addr = ownAddressOf(node, 'uv_run');
    const symbolizer = new Symbolizer();
    try {
      assert.deepEqual(symbolizer.symbolizeUser(process.pid, new BigUint64Array([addr])), ['uv_run']);
      // libdwfl maps the whole file private and writable (perms rw-p, offset 0): none of node's own mappings is writable at offset 0.
      const mapped = residentKb(node, /^rw-p$/, true);
      assert.ok(mapped.sizeKb * 1024 >= fs.statSync(node).size, `the symbolizer's mapping of ${node} is there (${mapped.sizeKb} kB)`);
      assert.ok(mapped.kb < 1024, `${mapped.kb} kB of ${node} stayed resident after indexing (its symbol tables: ${Math.round(symtabKb())} kB)`);
      // Another name of the same file, after its pages went: read again from the page cache.
      const other = ownAddressOf(node, 'uv_loop_init');
      assert.deepEqual(symbolizer.symbolizeUser(process.pid, new BigUint64Array([other])), ['uv_loop_init']);
    } finally {
      symbolizer.close();
    }
  });

  test('the state of a process that exited goes 10 s after its last lookup, not before', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const symbolizer = new Symbolizer();
    try {
      for (let i = 0; i < 500 && !/\/sleep$/.test(safeReadlink(`/proc/${child.pid}/exe`)); i++) await new Promise((r) => setTimeout(r, 10));
      const own = ownAddressOf(fs.realpathSync(process.execPath), 'uv_run');
      symbolizer.symbolizeUser(child.pid!, new BigUint64Array([0x1000n]));
      symbolizer.symbolizeUser(process.pid, new BigUint64Array([own]));
      assert.equal(symbolizer.stats().processes, 2);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // Its samples may still be on their way: a lookup soon after the exit keeps it.
      symbolizer.symbolizeUser(process.pid, new BigUint64Array([own]));
      assert.equal(symbolizer.stats().processes, 2);
      await new Promise((r) => setTimeout(r, 10_500));
      assert.deepEqual(symbolizer.symbolizeUser(process.pid, new BigUint64Array([own])), ['uv_run']);
      assert.equal(symbolizer.stats().processes, 1, 'the exited process was forgotten; this one (looked up all along) stays');
    } finally {
      child.kill('SIGKILL');
      symbolizer.close();
    }
  });

  test('fixMallocThresholds: glibc takes both thresholds', () => {
    assert.equal(fixMallocThresholds(), true);
  });
});
