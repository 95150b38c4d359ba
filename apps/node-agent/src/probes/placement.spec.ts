import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ElfError, readFunctionSymbols } from '../lib/elf';
import { placeEntryProbe } from './entry-site';
import { FREE_ENTRY_REGS, placeAllocatorProbes, placeSslProbes, SSL_ENTRY_REGS } from './placement';
import { requireFile } from './spec-tools';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

describe('placement: the one owner of where uprobes go', () => {
  it("places memleak's free probe in this machine's libc, keeping %rdi, and hands the addon its offset", () => {
    requireFile(LIBC, 'glibc');
    const probes = placeAllocatorProbes(LIBC);
    assert.deepEqual(FREE_ENTRY_REGS, ['rdi']);
    assert.deepEqual(probes.free, placeEntryProbe(LIBC, 'free', ['rdi']));
    assert.equal(probes.entryOffsets.free, probes.free.fileOffset);
    const entry = readFunctionSymbols(LIBC).get('free')!.fileOffset;
    assert.equal(probes.free.fileOffset, entry + BigInt(probes.free.delta));
  });

  it('places TLS probes per function, a missing one as its ElfError', () => {
    assert.deepEqual(SSL_ENTRY_REGS, ['rdi', 'rsi', 'rdx', 'rcx']);
    const sites = placeSslProbes(LIBC, ['malloc', 'SSL_read']);
    const malloc = sites.get('malloc');
    assert.ok(malloc && !(malloc instanceof Error));
    assert.equal(malloc.entry.fileOffset, placeEntryProbe(LIBC, 'malloc', SSL_ENTRY_REGS).fileOffset);
    const missing = sites.get('SSL_read');
    assert.ok(missing instanceof ElfError && missing.code === 'ENOSYM', String(missing));
  });
});
