/** dwarfStructOffsets(): struct member offsets read from an ELF file's DWARF (native/src/dwarf_struct_offsets.h). */
import { loadAddon } from './index';

/** A struct or union by tag or typedef name; `member` a dotted path into nested structs ("interpreters.head"), absent for the struct's size. */
export interface DwarfMemberQuery {
  struct: string;
  member?: string;
}

export type DwarfMemberOffset =
  | {
      ok: true;
      struct: string;
      member: string;
      /** bytes from the start of the struct (of the byte holding a bitfield's first bit) */
      offset: number;
      /** bytes of the member's type (the struct's, for no member); absent when DWARF does not say */
      size?: number;
      /** a bitfield's first bit from the start of the struct, and its width */
      bitOffset?: number;
      bitSize?: number;
    }
  | { ok: false; struct: string; member: string; error: string };

export type DwarfStructOffsets =
  | {
      ok: true;
      /** where the DWARF came from: the file itself, or its separate debug file (build-id, .gnu_debuglink) */
      debugFile: string;
      compileUnits: number;
      /** one per query, in order */
      members: DwarfMemberOffset[];
    }
  | {
      ok: false;
      /** "no debug info in ...", "open ...: not a regular file", "read ...: invalid ELF file", ... */
      error: string;
      /** the file was read, and neither it nor a separate debug file has DWARF */
      noDebugInfo: boolean;
      compileUnits: number;
    };

export interface DwarfStructOffsetsOptions {
  /** where a process sees the file when `path` is another way in (/proc/PID/map_files/...): its .gnu_debuglink file is looked for beside it */
  seenAs?: string;
  /** the largest ELF file read (default 1 GiB) */
  maxBytes?: number;
  /** compile units looked at, at most (default 100,000) */
  maxCompileUnits?: number;
  /** for the whole search (default 5,000 ms); structs not found by then are errors that say so */
  timeoutMs?: number;
}

export interface NativeDwarf {
  dwarfStructOffsets(path: string, queries: DwarfMemberQuery[], options?: DwarfStructOffsetsOptions): DwarfStructOffsets;
}

/**
 * The byte offsets of struct members in the DWARF of the ELF file at `path` (or of the separate debug file its
 * build-id or .gnu_debuglink names, under /usr/lib/debug or beside it). Throws only a TypeError for bad
 * arguments: an unreadable or hostile file, missing DWARF, an absent struct or member are answers.
 */
export function dwarfStructOffsets(path: string, queries: DwarfMemberQuery[], options?: DwarfStructOffsetsOptions): DwarfStructOffsets {
  return loadAddon().dwarfStructOffsets(path, queries, options);
}
