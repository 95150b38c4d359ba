import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ElfError, openElf, readBuildId, readFunctionSymbols, withElf } from '.';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

describe('lib/elf', () => {
  it("reads libc's build-id as file(1) does, and maps addresses to file offsets and back", () => {
    const id = withElf(LIBC, {}, (elf) => readBuildId(elf));
    assert.match(id ?? '', /^[0-9a-f]{40}$/);
    assert.match(execFileSync('file', ['-L', LIBC], { encoding: 'utf8' }), new RegExp(`BuildID\\[sha1\\]=${id}`));
    const free = readFunctionSymbols(LIBC).get('free')!;
    const elf = openElf(LIBC);
    try {
      assert.equal(elf.vaddrToFileOffset(free.vaddr), free.fileOffset);
      assert.equal(elf.fileOffsetToVaddr(free.fileOffset), free.vaddr);
      assert.ok(elf.sectionNames().some((s) => s.name === '.dynsym'));
    } finally {
      elf.close();
    }
  });

  it('refuses what is not a regular file with one error type', () => {
    assert.throws(() => openElf('/dev/null'), (e: unknown) => e instanceof ElfError && e.code === 'EREFUSED' && /not a regular file \(character device\)/.test(e.message));
    assert.throws(() => openElf('/no/such/file'), (e: unknown) => e instanceof ElfError && e.code === 'EREAD');
  });
});
