/**
 * USDT probes of a running process: the ELF files it maps, each read through safe-file.ts (a
 * device mapped executable or a FIFO put in a mapped file's place is skipped, never opened).
 */
import * as fs from 'node:fs';
import { type FileRefused, openRegular } from '../safe-file';
import { ElfError, errMessage } from '../lib/elf';
import { ProcError, procRootPath, readExe, readMaps } from '../lib/proc';
import { readProbesFromFd, type UsdtProbe } from './stapsdt';

/**
 * USDT probes of a running process: its executable and every file-backed ELF it
 * maps, each read once through /proc/<pid>/root so that files in another mount
 * namespace are the ones the process really maps. `path` in the result is that
 * /proc/<pid>/root/... path, which can be opened (and attached to) from here.
 * Non-ELF mappings, non-regular files, deleted files and ELF files of another
 * class/machine are skipped; other errors (no such pid, no permission, a
 * malformed ELF) are thrown.
 */
export function listProcessUsdt(pid: number): UsdtProbe[] {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new Error(`listProcessUsdt: invalid pid ${pid}`);
  }
  const maps = readMaps(pid);
  const candidates: string[] = [];
  try {
    candidates.push(readExe(pid));
  } catch (err) {
    // Kernel threads have no executable; a vanished process shows up below.
    if (!(err instanceof ProcError) || err.errno !== 'ENOENT') throw err;
  }
  for (const m of maps) {
    if (m.inode !== 0 && !m.deleted) candidates.push(m.path);
  }

  const seenPaths = new Set<string>();
  const seenInodes = new Set<string>();
  const probes: UsdtProbe[] = [];
  for (const p of candidates) {
    if (!p.startsWith('/') || p.endsWith(' (deleted)') || seenPaths.has(p)) continue;
    seenPaths.add(p);
    const full = procRootPath(pid, p);
    let fd: number;
    let st: fs.Stats;
    try {
      ({ fd, stat: st } = openRegular(full));
    } catch (err) {
      const refused = err as FileRefused;
      // A device mapped executable, a FIFO put where a mapped file was, a kernel pseudo file:
      // nothing to read probes from, and never opened.
      if (refused.code === 'ENOTREG' || refused.code === 'EPSEUDOFS') continue;
      if (refused.errno === 'ENOENT' || refused.errno === 'ENOTDIR') continue; // replaced or unlinked since it was mapped
      throw new Error(`cannot open ${full} (mapped by pid ${pid}): ${errMessage(err)}`);
    }
    try {
      const key = `${st.dev}:${st.ino}`;
      if (seenInodes.has(key)) continue;
      seenInodes.add(key);
      try {
        probes.push(...readProbesFromFd(fd, full, st));
      } catch (err) {
        if (err instanceof ElfError && (err.code === 'ENOTELF' || err.code === 'EUNSUPPORTED')) continue;
        throw err;
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return probes;
}
