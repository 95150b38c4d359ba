import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readMaps } from '../../lib/proc';
import { MAX_MEMORY_READ, ProcMemory, readProcessMemory } from './memory';

describe('process memory', () => {
  it("reads this process's memory by address, and nothing it cannot have", () => {
    // Node's executable is mapped from file offset 0 at its lowest address: the ELF header is there.
    const exe = readMaps(process.pid).find((m) => m.path === process.execPath && m.offset === 0n)!;
    assert.ok(exe, 'node maps its own executable from offset 0');
    assert.equal(readProcessMemory(process.pid, exe.startAddr, 4)?.toString('latin1'), '\x7fELF');
    const mem = new ProcMemory(2);
    assert.equal(mem.read(process.pid, exe.startAddr + 1n, 3)?.toString('latin1'), 'ELF');
    assert.equal(mem.open, 1);
    assert.equal(mem.read(process.pid, 0n, 8), undefined);
    assert.equal(mem.read(process.pid, 1n << 47n, 8), undefined);
    assert.equal(mem.read(process.pid, 0x1000n, 8), undefined); // unmapped page: EIO
    assert.equal(mem.read(process.pid, exe.startAddr, MAX_MEMORY_READ + 1), undefined);
    assert.equal(mem.read(4_000_000, exe.startAddr, 4), undefined); // no such process
    assert.equal(mem.read(-1, exe.startAddr, 4), undefined);
    mem.forget(process.pid);
    assert.equal(mem.open, 0);
    mem.read(process.pid, exe.startAddr, 4);
    mem.close();
    assert.equal(mem.open, 0);
  });
});
