import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { CFA_RULE, Profiler, RBP_RULE, Unwinder, loadAddon, unwindTable, type NativeUnwinder, type UnwindTableRow, type UnwinderOptions } from './index';
import { profileObject, runUntilReady, sleep, tempDir } from './spec-support';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const PYTHON = '/usr/bin/python3.11'; // Debian's: no frame pointers, unlike the pyenv one first on PATH
const NODE = '/usr/bin/node';
const UNWIND_MAP_NAMES = ['unwind_tables', 'unwind_procs', 'unwind_misses', 'tf_unwind_tbl'];
const UNWIND_KIND_TABLE = 1; // unwind.h

// Every Unwinder and child of this file, so the last test can prove the maps went away with them.
const unwinders: Unwinder[] = [];
const children: ChildProcess[] = [];
// Ids of the unwind maps this file's Unwinders made: other agents and benches on the machine use the same names.
const ourMapIds = new Set<number>();
const track = (u: Unwinder): Unwinder => (unwinders.push(u), u);
after(() => children.forEach((c) => c.kill('SIGKILL')));

/** A tool's stdout. readelf -wf exits 1 on libc.so.6 though it printed every table, so output counts, not the status. */
function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error || r.signal || (r.status !== 0 && !r.stdout)) {
    throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.signal ?? `exit ${r.status}`} ${r.stderr ?? ''}`);
  }
  return r.stdout;
}
/** Computed on first use, inside a test: a failure then fails that test instead of the whole suite. */
function lazy<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}
const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** The row covering pc, as the BPF program finds it: the last row whose pc <= pc. */
function rowAt(rows: UnwindTableRow[], pc: bigint): UnwindTableRow | undefined {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pc < rows[mid].pc) hi = mid;
    else lo = mid + 1;
  }
  return lo === 0 ? undefined : rows[lo - 1];
}

function assertStrictlySorted(rows: UnwindTableRow[]): void {
  const at = rows.findIndex((r, i) => i > 0 && r.pc <= rows[i - 1].pc);
  assert.equal(at, -1, `rows not strictly sorted at ${at}: ${at > 0 ? `${hex(rows[at - 1].pc)}, ${hex(rows[at].pc)}` : ''}`);
}

/** A symbol's address, default version (`name@@VER` or unversioned), from the dynamic symbol table. */
function dynamicSymbol(file: string, name: string): bigint | undefined {
  for (const line of run('nm', ['-D', '--defined-only', file]).split('\n')) {
    const [addr, , sym] = line.trim().split(/\s+/);
    if (sym === name || sym?.startsWith(`${name}@@`)) return BigInt(`0x${addr}`);
  }
  return undefined;
}

// readelf -wF (binutils): one LOC/CFA/registers table per CIE and FDE, an independent CFI interpreter.
interface CfiRow {
  loc: bigint;
  cfa: string;
  regs: Record<string, string>;
}
interface CfiEntry {
  offset: string;
  kind: 'CIE' | 'FDE';
  augmentation: string;
  cie: string;
  lo: bigint;
  hi: bigint;
  rows: CfiRow[];
}

function readelfFrames(file: string): CfiEntry[] {
  const entries: CfiEntry[] = [];
  let current: CfiEntry | undefined;
  let columns: string[] = [];
  const head = /^([0-9a-f]{8,16}) [0-9a-f]+ [0-9a-f]+ (CIE|FDE)(?: "([^"]*)")?(?: cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+))?/;
  for (const line of run('readelf', ['-wF', file]).split('\n')) {
    const h = head.exec(line);
    if (h) {
      current = { offset: h[1], kind: h[2] as 'CIE' | 'FDE', augmentation: h[3] ?? '', cie: h[4] ?? '', lo: BigInt(`0x${h[5] ?? 0}`), hi: BigInt(`0x${h[6] ?? 0}`), rows: [] };
      entries.push(current);
      columns = [];
      continue;
    }
    const cells = line.trim().split(/\s+/);
    if (!current || cells.length < 2) continue;
    if (cells[0] === 'LOC') columns = cells.slice(2);
    else if (/^[0-9a-f]{16}$/.test(cells[0]) && columns.length > 0) {
      const regs: Record<string, string> = {};
      columns.forEach((c, i) => (regs[c] = cells[i + 2]));
      current.rows.push({ loc: BigInt(`0x${cells[0]}`), cfa: cells[1], regs });
    }
  }
  return entries;
}

/** readelf's state at pc: an FDE that lists no rows has its CIE's initial state. */
function referenceAt(cies: Map<string, CfiEntry>, fde: CfiEntry, pc: bigint): CfiRow | undefined {
  const rows = fde.rows.length > 0 ? fde.rows : (cies.get(fde.cie)?.rows ?? []);
  if (fde.rows.length === 0) return rows.at(-1);
  return rows.filter((r) => r.loc <= pc).at(-1);
}

/** What readelf says about one of our rows, or a reason they disagree. */
function disagreement(row: UnwindTableRow | undefined, ref: CfiRow): string | undefined {
  if (!row) return 'no row of ours';
  const ra = ref.regs.ra;
  const ours =
    row.cfaRule === CFA_RULE.rsp ? `rsp+${row.cfaOffset}` : row.cfaRule === CFA_RULE.rbp ? `rbp+${row.cfaOffset}` : undefined;
  if (row.cfaRule === CFA_RULE.end) return ra === 'u' ? undefined : `END row but readelf ra ${ra}`;
  if (ours === undefined) return ref.cfa === 'exp' ? undefined : `rule ${row.cfaRule} but readelf CFA ${ref.cfa}`;
  if (ours !== ref.cfa) return `CFA ${ours} but readelf ${ref.cfa}`;
  const slot = ref.regs.rbp?.startsWith('c') ? ref.regs.rbp : undefined;
  const ourSlot = row.rbpRule === RBP_RULE.offset ? `c${row.rbpOffset}` : undefined;
  return slot === ourSlot ? undefined : `rbp ${ourSlot ?? 'not saved'} but readelf ${ref.regs.rbp ?? 'no column'}`;
}

// A small seeded generator: the same pcs on every run, another set with TF_UNWIND_SEED.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('unwindTable(libc.so.6)', () => {
  const libc = lazy(() => unwindTable(LIBC));
  const libcFrames = lazy(() => run('readelf', ['-wf', LIBC]));

  test('comes from .eh_frame with rows strictly sorted by pc', () => {
    const table = libc();
    assert.equal(table.source, '.eh_frame');
    assert.ok(table.fdes > 1000, `${table.fdes} FDEs`);
    assert.ok(table.rows.length > table.fdes, `${table.rows.length} rows`);
    assertStrictlySorted(table.rows);
  });

  test('the .plt stub is a PLT row with the threshold its CFI expression names', () => {
    const [table, frames] = [libc(), libcFrames()];
    const plt = /\[\s*\d+\] \.plt\s+PROGBITS\s+([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+)/.exec(run('readelf', ['-SW', LIBC]));
    assert.ok(plt, 'libc has no .plt section');
    const [lo, hi] = [BigInt(`0x${plt[1]}`), BigInt(`0x${plt[1]}`) + BigInt(`0x${plt[2]}`)];
    const rows = table.rows.filter((r) => r.cfaRule === CFA_RULE.plt);
    assert.ok(table.plt >= 1 && rows.length >= 1, `plt ${table.plt}, PLT rows ${rows.length}`);
    assert.ok(rows.every((r) => r.pc >= lo && r.pc < hi), `a PLT row outside .plt ${hex(lo)}..${hex(hi)}`);
    const threshold = /DW_OP_and; DW_OP_lit(\d+); DW_OP_ge/.exec(frames);
    assert.ok(threshold, 'readelf shows no .plt CFA expression');
    assert.ok(rows.every((r) => r.cfaOffset === Number(threshold[1])));
  });

  test('__restore_rt is a SIGNAL row reading the ucontext where its CFI says', () => {
    const table = libc();
    assert.ok(table.signal >= 1, `signal ${table.signal}`);
    // __restore_rt is local and libc.so.6 is stripped: the FDE of the "zRS" (signal frame) CIE gives its range.
    const cie = readelfFrames(LIBC).find((e) => e.kind === 'CIE' && e.augmentation.includes('S'));
    const fde = cie && new RegExp(`^[0-9a-f]+ [0-9a-f]+ [0-9a-f]+ FDE cie=${cie.offset} pc=([0-9a-f]+)\\.\\.([0-9a-f]+)\\n((?:  .*\\n)*)`, 'm').exec(libcFrames());
    if (!fde) {
      console.log('libc.so.6: no signal-frame ("zRS") CIE in readelf -wf; only the SIGNAL count is checked');
      return;
    }
    const [lo, hi] = [BigInt(`0x${fde[1]}`), BigInt(`0x${fde[2]}`)];
    // glibc starts the FDE at the nop before __restore_rt, so that a lookup of the "return address" - 1 finds it.
    const code = run('objdump', ['-d', '--no-show-raw-insn', `--start-address=${hex(lo + 1n)}`, `--stop-address=${hex(hi)}`, LIBC]);
    assert.match(code, /mov\s+\$0xf,%rax[\s\S]*syscall/, 'the signal FDE does not cover rt_sigreturn');
    const cfa = /DW_CFA_def_cfa_expression \(DW_OP_breg7 \(rsp\): (\d+); DW_OP_deref\)/.exec(fde[3]);
    const rbp = /DW_CFA_expression: r6 \(rbp\) \(DW_OP_breg7 \(rsp\): (\d+)\)/.exec(fde[3]);
    assert.ok(cfa && rbp, `unexpected signal CFI:\n${fde[3]}`);
    const rows = table.rows.filter((r) => r.cfaRule === CFA_RULE.signal);
    assert.equal(rows.length, table.signal);
    const row = rows.find((r) => r.pc >= lo && r.pc < hi);
    assert.ok(row, `no SIGNAL row in ${hex(lo)}..${hex(hi)}`);
    assert.deepEqual([row.cfaOffset, row.rbpRule, row.rbpOffset], [Number(cfa[1]), RBP_RULE.offset, Number(rbp[1])]);
    assert.equal(rowAt(table.rows, hi - 1n), row, 'the SIGNAL rule does not reach the end of __restore_rt');
  });

  test("malloc's rows follow its prologue, instruction by instruction", () => {
    const table = libc();
    const malloc = dynamicSymbol(LIBC, 'malloc');
    assert.ok(malloc !== undefined, 'malloc not in libc.so.6 .dynsym');
    const lines = run('objdump', ['-d', '--no-show-raw-insn', `--start-address=${hex(malloc)}`, `--stop-address=${hex(malloc + 64n)}`, LIBC]);
    const insns = [...lines.matchAll(/^\s+([0-9a-f]+):\t(\S+)\s*(.*)$/gm)].map((m) => ({ at: BigInt(`0x${m[1]}`), op: m[2], args: m[3].trim() }));
    // CFA = rsp + 8 at entry; every push adds 8, `sub $n,%rsp` adds n; rbp's slot is where its push wrote it.
    let cfa = 8;
    let rbpSlot: number | undefined;
    const expected: Array<{ pc: bigint; cfa: number; rbpSlot?: number; after: string }> = [{ pc: malloc, cfa, after: 'entry' }];
    for (let i = 0; i + 1 < insns.length; i++) {
      const { op, args } = insns[i];
      const sub = /^\$0x([0-9a-f]+),%rsp$/.exec(args);
      if (op === 'push') {
        cfa += 8;
        if (args === '%rbp') rbpSlot = -cfa;
      } else if (op === 'sub' && sub) cfa += parseInt(sub[1], 16);
      else if (!(op === 'mov' && /^%\w+,%\w+$/.test(args) && !args.includes('%rsp'))) break;
      expected.push({ pc: insns[i + 1].at, cfa, rbpSlot, after: `${op} ${args}` });
    }
    assert.ok(expected.length >= 3, `malloc's prologue has no pushes: ${insns.map((x) => x.op).join(' ')}`);
    for (const e of expected) {
      const row = rowAt(table.rows, e.pc);
      assert.ok(row, `no row at ${hex(e.pc)}`);
      const where = `at ${hex(e.pc)} (after ${e.after})`;
      assert.deepEqual([row.cfaRule, row.cfaOffset], [CFA_RULE.rsp, e.cfa], `CFA ${where}`);
      if (e.rbpSlot === undefined) assert.notEqual(row.rbpRule, RBP_RULE.offset, `rbp not yet saved ${where}`);
      else assert.deepEqual([row.rbpRule, row.rbpOffset], [RBP_RULE.offset, e.rbpSlot], `rbp slot ${where}`);
    }
  });
});

describe('unwindTable(python3.11) against readelf -wF', () => {
  const python = lazy(() => {
    const entries = readelfFrames(PYTHON);
    const cies = new Map(entries.filter((e) => e.kind === 'CIE').map((e) => [e.offset, e]));
    return { table: unwindTable(PYTHON), cies, fdes: entries.filter((e) => e.kind === 'FDE' && e.hi > e.lo) };
  });

  test('agrees on CFA and the rbp slot at 200 random pcs (>= 99 %)', () => {
    const { table, cies, fdes } = python();
    assert.equal(table.source, '.eh_frame');
    assert.ok(fdes.length > 1000, `readelf listed ${fdes.length} FDEs`);
    const seed = Number(process.env.TF_UNWIND_SEED ?? 0x7f1e);
    const random = mulberry32(seed);
    // Uniform over code bytes, so large functions with long CFI programs get their share.
    const total = fdes.reduce((n, f) => n + Number(f.hi - f.lo), 0);
    const problems: string[] = [];
    for (let i = 0; i < 200; i++) {
      let offset = Math.floor(random() * total);
      const fde = fdes.find((f) => offset < Number(f.hi - f.lo) || ((offset -= Number(f.hi - f.lo)), false))!;
      const pc = fde.lo + BigInt(offset);
      const ref = referenceAt(cies, fde, pc);
      assert.ok(ref, `readelf has no state at ${hex(pc)}`);
      const why = disagreement(rowAt(table.rows, pc), ref);
      if (why) problems.push(`${hex(pc)} (FDE ${hex(fde.lo)}..${hex(fde.hi)}): ${why}`);
    }
    if (problems.length > 0) console.log(`seed ${seed}: ${problems.length} disagreements:\n  ${problems.join('\n  ')}`);
    assert.ok(problems.length <= 2, `${problems.length}/200 disagree (seed ${seed}): ${problems.slice(0, 5).join('; ')}`);
  });

  test('_start is an outermost (END) row, where readelf says ra is undefined', () => {
    const { table, cies, fdes } = python();
    const start = dynamicSymbol(PYTHON, '_start');
    assert.ok(start !== undefined, '_start not in python3.11 .dynsym');
    const fde = fdes.find((f) => f.lo <= start && start < f.hi);
    assert.ok(fde, `no FDE covers _start ${hex(start)}`);
    assert.equal(referenceAt(cies, fde, start)?.regs.ra, 'u');
    assert.equal(rowAt(table.rows, start)?.cfaRule, CFA_RULE.end);
  });
});

describe('unwindTable on hostile input', () => {
  const dir = tempDir('unwind-hostile');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Builds the table in a child process: a crash there fails this test instead of ending the run. */
  function inChild(file: string): { error?: string; rows?: number; source?: string; sorted?: boolean } {
    const script = `
      const { unwindTable } = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
      let out;
      try {
        const t = unwindTable(process.argv[1]);
        out = { rows: t.rows.length, source: t.source, sorted: t.rows.every((r, i) => i === 0 || r.pc > t.rows[i - 1].pc) };
      } catch (err) { out = { error: (err instanceof Error ? err.constructor.name + ': ' : 'not an Error: ') + err.message }; }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['-e', script, file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, null, `unwindTable(${file}) killed the process with ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, `unwindTable(${file}) exited ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  }

  test('a missing path or a directory throws an Error naming the path', () => {
    for (const file of [path.join(dir, 'missing'), dir]) {
      assert.throws(() => unwindTable(file), (err: unknown) => err instanceof Error && err.message.includes(file));
    }
  });

  test('random bytes and an empty file: an Error naming the problem', () => {
    const random = path.join(dir, 'random.bin');
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(random, crypto.randomBytes(4096));
    fs.writeFileSync(empty, '');
    for (const file of [random, empty]) {
      const r = inChild(file);
      // Not ELF must throw: an empty table would pass the file off as ELF without CFI (a frame-pointer module).
      assert.match(r.error ?? '', new RegExp(`${file}|not an ELF`), `unwindTable(${file}) returned ${JSON.stringify(r)}`);
    }
  });

  test('a truncated libc and one with 4 KiB of garbage in .eh_frame: returns sorted rows or throws', () => {
    const truncated = path.join(dir, 'truncated.so');
    fs.writeFileSync(truncated, fs.readFileSync(LIBC).subarray(0, 64 << 10));
    const section = /\] \.eh_frame\s+PROGBITS\s+[0-9a-f]+ ([0-9a-f]+) ([0-9a-f]+)/.exec(run('readelf', ['-SW', LIBC]));
    assert.ok(section, 'libc.so.6 has no .eh_frame');
    const bytes = fs.readFileSync(LIBC);
    const middle = parseInt(section[1], 16) + (parseInt(section[2], 16) >> 1) - 2048;
    crypto.randomFillSync(bytes, middle, 4096);
    const garbled = path.join(dir, 'garbled.so');
    fs.writeFileSync(garbled, bytes);
    for (const file of [truncated, garbled]) {
      const r = inChild(file);
      console.log(`${path.basename(file)}: ${JSON.stringify(r)}`);
      if (r.error === undefined) assert.equal(r.sorted, true, `${file}: rows not sorted`);
      else assert.match(r.error, /^Error: /);
    }
  });
});

/** The BPF maps this process holds an fd of: ids from /proc/self/fdinfo, names from bpftool. */
function ownMaps(): Array<{ id: number; name: string }> {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) !== 'anon_inode:bpf-map') continue;
      const id = /map_id:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (id) ids.add(Number(id[1]));
    } catch {
      // closed meanwhile
    }
  }
  return kernelMaps().filter((m) => ids.has(m.id));
}

function kernelMaps(): Array<{ id: number; name: string }> {
  return (JSON.parse(run('bpftool', ['-j', 'map', 'list'])) as Array<{ id: number; name?: string }>).map((m) => ({ id: m.id, name: m.name ?? '' }));
}

function noteUnwindMaps(): void {
  for (const m of ownMaps()) if (UNWIND_MAP_NAMES.includes(m.name)) ourMapIds.add(m.id);
}

/** Table ids a process's unwind_procs entry points at (UNWIND_KIND_TABLE) that unwind_tables does not hold. */
function staleTableIds(pid: number): number[] {
  const maps = new Map(ownMaps().map((m) => [m.name, m.id])); // this test's Unwinder is the only one open
  const dump = (id: number | undefined) =>
    (JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(id)])) as Array<{ key: string[]; value: string[] }>).map((e) => ({
      key: Buffer.from(e.key.map((b) => parseInt(b, 16))),
      value: Buffer.from(e.value.map((b) => parseInt(b, 16))),
    }));
  const tables = new Set(dump(maps.get('unwind_tables')).map((e) => e.key.readUInt32LE(0)));
  const entry = dump(maps.get('unwind_procs')).find((e) => e.key.readUInt32LE(0) === pid);
  assert.ok(entry, `no unwind_procs entry for pid ${pid}`);
  // struct unwind_proc (unwind.h; the addon's layout() does not export it): count, pad, then 40-byte
  // mappings { start, end, bias, table_id, rows, kind, pad }.
  const stale: number[] = [];
  for (let i = 0; i < entry.value.readUInt32LE(0); i++) {
    const at = 8 + i * 40;
    const id = entry.value.readUInt32LE(at + 24);
    if (entry.value.readUInt32LE(at + 32) === UNWIND_KIND_TABLE && !tables.has(id)) stale.push(id);
  }
  return stale;
}

describe('Unwinder', () => {
  test('tables of a process: built once, shared, counted, dropped with the last process', async () => {
    const u = track(new Unwinder());
    const first = await u.addProcess(process.pid);
    assert.equal(first.gone, false);
    assert.ok(first.mappings > 0 && first.tablesBuilt > 0, JSON.stringify(first));
    noteUnwindMaps();
    const second = await u.addProcess(process.pid);
    assert.equal(second.tablesBuilt, 0, 'the second read of the same process built tables again');
    const s = u.stats();
    assert.ok(s.tableBytes > 0);
    assert.equal(s.tableBytes, s.tableRows * 16);
    assert.ok(u.processes().includes(process.pid));
    assert.ok(Array.isArray(u.takeMisses()));

    const exited = spawnSync('true');
    assert.equal(exited.status, 0);
    assert.equal((await u.addProcess(exited.pid!)).gone, true);
    assert.ok(!u.processes().includes(exited.pid!));

    await u.removeProcess(process.pid);
    assert.ok(!u.processes().includes(process.pid));
    assert.deepEqual([u.stats().tableBytes, u.stats().processes], [0, 0]);

    u.close();
    for (const call of [() => u.addProcess(process.pid), () => u.removeProcess(1), () => u.takeMisses(), () => u.stats(), () => u.processes()]) {
      assert.throws(call, /Unwinder is closed/);
    }
    u.close(); // idempotent
    assert.throws(() => new Profiler({ objectPath: profileObject(), frequencyHz: 99, onSamples() {}, unwinder: u }), /Unwinder is closed/);
  });

  test('bad arguments are TypeErrors naming what is wrong', () => {
    const u = track(new Unwinder());
    const native = u.handle as unknown as { addProcess(pid: unknown): Promise<unknown> };
    assert.throws(() => native.addProcess(0), (e: unknown) => e instanceof TypeError && /pid/.test(e.message));
    assert.throws(() => native.addProcess('x'), (e: unknown) => e instanceof TypeError && /pid/.test(e.message));
    assert.throws(() => new Unwinder({ maxTableBytes: 10 }), (e: unknown) => e instanceof TypeError && /maxTableBytes/.test(e.message));
    assert.throws(() => new Unwinder({ bogus: 1 } as UnwinderOptions), (e: unknown) => e instanceof TypeError && /bogus/.test(e.message));
    const NativeProfiler = loadAddon().Profiler;
    assert.throws(
      () => new NativeProfiler({ objectPath: profileObject(), frequencyHz: 99, onSamples() {}, unwinder: {} as NativeUnwinder }),
      (e: unknown) => e instanceof TypeError && e.message.includes('option unwinder must be an Unwinder'),
    );
    u.close();
  });

  test('a memory limit below a table refuses it and keeps the bytes under the limit', async () => {
    const child = await runUntilReady(NODE, ['-e', "console.log('ready'); setInterval(() => {}, 1000)"]);
    children.push(child);
    const u = track(new Unwinder({ maxTableBytes: 1 << 20 }));
    try {
      const r = await u.addProcess(child.pid!);
      noteUnwindMaps();
      const s = u.stats();
      console.log(`node under 1 MiB: ${JSON.stringify(r)} ${JSON.stringify(s)}`);
      assert.ok(s.tablesRefused >= 1, `tablesRefused ${s.tablesRefused}: node's own table (~6 MB) should not fit`);
      assert.ok(s.tableBytes <= 1 << 20 && s.tableBytesPeak <= 1 << 20, `tableBytes ${s.tableBytes}, peak ${s.tableBytesPeak}`);
      const stale = staleTableIds(child.pid!);
      if (stale.length > 0) console.log(`pid ${child.pid}: mappings name tables not in unwind_tables: ${stale.join(', ')}`);
      // Eviction never takes a table the same addProcess call already wrote into the process's entry.
      assert.deepEqual(stale, [], 'the entry written for the process names evicted tables');
    } finally {
      child.kill('SIGKILL');
      u.close();
    }
  });

  test('a profile of python3.11 without frame pointers walks whole stacks through the tables', async () => {
    const source = [
      'def leaf(n):',
      '    acc = 0',
      '    for i in range(n):',
      '        acc = (acc * 31 + i) & 0xFFFFFFFF',
      '    return acc',
      'def middle(n):',
      '    return leaf(n) ^ leaf(n // 2)',
      'print("ready", flush=True)',
      'while True:',
      '    middle(2000)',
    ].join('\n');
    const child = await runUntilReady(PYTHON, ['-c', source]);
    children.push(child);
    const u = track(new Unwinder());
    let samples = 0;
    const profiler = new Profiler({ objectPath: profileObject(), frequencyHz: 99, targetPid: child.pid, unwinder: u, onSamples: (b) => (samples += b.length) });
    try {
      assert.ok((await u.addProcess(child.pid!)).tablesBuilt > 0);
      noteUnwindMaps();
      profiler.start();
      await sleep(2000);
      const { unwind } = await profiler.stop();
      console.log(`python3.11: ${samples} samples, unwind ${JSON.stringify(unwind, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
      assert.ok(unwind.stacks > 0n, 'no user stacks walked');
      assert.ok(Number(unwind.stacksComplete) / Number(unwind.stacks) >= 0.9, `${unwind.stacksComplete}/${unwind.stacks} complete`);
      assert.ok(unwind.framesTable > unwind.stacks * 5n, `${unwind.framesTable} table frames for ${unwind.stacks} stacks`);
    } finally {
      child.kill('SIGKILL');
      profiler.close();
      u.close();
    }
  });
});

describe('BPF maps after close()', () => {
  test('no unwind map made by this file is left once its Unwinders are closed', async () => {
    unwinders.forEach((u) => u.close());
    assert.ok(ourMapIds.size >= 4, `only ${ourMapIds.size} unwind maps were seen while the Unwinders were open`);
    assert.deepEqual(ownMaps().filter((m) => UNWIND_MAP_NAMES.includes(m.name)), [], 'fds of unwind maps still open');
    const left = () => kernelMaps().filter((m) => ourMapIds.has(m.id));
    // The kernel frees a map (the inner maps of a hash of maps after an RCU grace period) shortly after its last fd closes.
    for (let i = 0; i < 30 && left().length > 0; i++) await sleep(100);
    assert.deepEqual(left(), []);
  });
});
