/**
 * USDT (SystemTap SDT) probe discovery from ELF files, in plain TypeScript: the probe notes
 * (lib/elf/notes.ts) resolved to file offsets a uprobe attach takes.
 *
 * Only 64-bit little-endian x86-64 ELF files are supported; only the ELF header, the section and
 * program header tables, the section name table, `.note.stapsdt` and the `.stapsdt.base` header
 * are read from the file (lib/elf).
 *
 * Paths come from the controller (a listing's or a job's binary) and from traced processes (their
 * maps): files are opened through safe-file.ts, so only regular files are ever opened, and errors
 * name what is wrong without the file's size.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import {
  ElfError,
  ElfFile,
  errMessage,
  openElfFd,
  readStapsdtNotes,
  SHT_NOBITS,
  SHT_NOTE,
  STAPSDT_BASE_SECTION,
  STAPSDT_NOTE_SECTION,
  type StapsdtNote,
} from '../lib/elf';
import { parseUsdtArgs, type UsdtArg } from './specs';

export { parseProbeSpec, parseUsdtArgs, type UsdtArg } from './specs';
export { listProcessUsdt } from './process';

export interface UsdtProbe {
  provider: string;
  name: string;
  /** absolute path of the ELF file the note is in */
  path: string;
  /** probe address as in the note (link-time virtual address) */
  pc: bigint;
  /** file offset of the probe site (what a uprobe attach takes), adjusted for .stapsdt.base prelink bias */
  fileOffset: bigint;
  /** semaphore address (link-time vaddr) or 0n, and its file offset or 0n */
  semaphore: bigint;
  semaphoreFileOffset: bigint;
  args: UsdtArg[];
  argsRaw: string;
}

// ---- public API ------------------------------------------------------------

/**
 * All USDT probes in one ELF file. Throws an {@link ElfError} naming the
 * file when it is unreadable, not ELF, not 64-bit LE x86-64, or malformed;
 * returns [] when the file has no `.note.stapsdt` probes.
 */
export function readUsdtProbes(path: string): UsdtProbe[] {
  const abs = nodePath.resolve(path);
  const { fd, stat } = openElfFd(abs, { purpose: 'USDT probe discovery' });
  try {
    return readProbesFromFd(fd, abs, stat);
  } finally {
    fs.closeSync(fd);
  }
}

/** The probes of an ELF file already opened through safe-file.ts (`st` is its fstat). */
export function readProbesFromFd(fd: number, path: string, st: fs.Stats): UsdtProbe[] {
  const elf = ElfFile.fromFd(fd, path, st);
  const sections = elf.sectionNames();
  if (!sections.some((s) => s.name === STAPSDT_NOTE_SECTION && s.type === SHT_NOTE)) return [];
  const baseSection = sections.find((s) => s.name === STAPSDT_BASE_SECTION && s.type !== SHT_NOBITS);
  elf.loadSegments(); // a broken program header table is reported before the notes
  return readStapsdtNotes(elf).map((note) => resolveProbe(note, baseSection?.addr, elf));
}

function resolveProbe(note: StapsdtNote, baseAddr: bigint | undefined, elf: ElfFile): UsdtProbe {
  const { path } = elf;
  const probeName = `${note.provider}:${note.name}`;
  let pc = note.pc;
  let semaphore = note.semaphore;
  // Prelink (or any relink) moves sections; the note records where
  // .stapsdt.base was at link time, so the difference is the bias.
  if (baseAddr !== undefined && note.base !== 0n) {
    const bias = baseAddr - note.base;
    pc = BigInt.asUintN(64, pc + bias);
    if (semaphore !== 0n) semaphore = BigInt.asUintN(64, semaphore + bias);
  }
  const fileOffset = elf.vaddrToFileOffset(pc, true);
  if (fileOffset === undefined) {
    throw new ElfError(
      'EMALFORMED',
      path,
      `USDT probe ${probeName}: address 0x${pc.toString(16)} is not inside any PT_LOAD segment's file contents`,
    );
  }
  let semaphoreFileOffset = 0n;
  if (semaphore !== 0n) {
    const off = elf.vaddrToFileOffset(semaphore, false);
    if (off === undefined) {
      throw new ElfError(
        'EMALFORMED',
        path,
        `USDT probe ${probeName}: semaphore address 0x${semaphore.toString(16)} is not inside any PT_LOAD segment`,
      );
    }
    semaphoreFileOffset = off;
  }
  let args: UsdtArg[];
  try {
    args = parseUsdtArgs(note.argsRaw);
  } catch (err) {
    throw new ElfError('EMALFORMED', path, `USDT probe ${probeName}: ${errMessage(err)}`);
  }
  return {
    provider: note.provider,
    name: note.name,
    path,
    pc,
    fileOffset,
    semaphore,
    semaphoreFileOffset,
    args,
    argsRaw: note.argsRaw,
  };
}
