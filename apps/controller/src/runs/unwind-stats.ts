import type { UnwindStats } from '@tracefleet/proto';
import type { Prisma } from '../generated/prisma/client';

/**
 * Each counter of the agent's RunFinished.unwind, described (from agent.proto) for the OpenAPI
 * document. Keyed by the proto's fields, so a counter added there fails the build until it is
 * described here, stored and shown.
 */
export const UNWIND_COUNTERS: Readonly<Record<keyof UnwindStats, string>> = {
  stacks: 'User stacks walked.',
  stacksComplete: 'Stacks that reached the outermost frame (return address undefined, or 0).',
  framesTable: 'Frames found through .eh_frame/.debug_frame tables.',
  framesFp: 'Frames found through the frame pointer.',
  cutNoMapping: 'Cut: the pc lies in no executable mapping known for the process (a refresh is asked for).',
  cutNoRow: "Cut: the pc's module has unwind tables but no row covers the pc.",
  cutExpression: 'Cut: the rule is a DWARF expression that is not one of the known cases (PLT, signal frame).',
  cutDepth: 'Cut: TRACEFLEET_MAX_STACK_DEPTH (127) frames were taken and the stack goes on.',
  cutReadFault: 'Cut: reading the saved return address or rbp from the stack faulted.',
  unwindPending: "Cut: the process or the pc's module has no table yet (being built); the next samples get it.",
  cutInvalid: 'Cut: the frame is not plausible (the stack pointer did not move up, or rbp was needed but unknown).',
  tablesBuilt: 'Tables built on the node that this run caused or used (tables are shared by runs).',
  tableBuildMs: 'Milliseconds spent building those tables.',
  tableBytes: 'Bytes of table rows loaded in the kernel at the end of the run.',
  tableBytesPeak: 'The most bytes of table rows loaded in the kernel at once during the run.',
  tablesEvicted: "Tables dropped to stay under the node's table memory limit.",
  tablesRefused: 'Modules left without a table to stay under that limit.',
  processes: 'Processes given tables.',
  modulesFp: 'Modules unwound by frame pointer (no unwind info, JIT).',
};

/** A run's unwinding counters as stored (JobRun.unwindStats) and shown (GET /jobs/:id). */
export type UnwindRunStats = Record<keyof UnwindStats, number>;

const KEYS = Object.keys(UNWIND_COUNTERS) as (keyof UnwindStats)[];

/** The counters to store, or null when the agent sent none (the run took no user stacks). */
export function unwindStatsOf(u: UnwindStats | undefined): UnwindRunStats | null {
  if (!u) return null;
  // Counts of one run stay far below 2^53, so plain JSON numbers lose nothing.
  return Object.fromEntries(KEYS.map((k) => [k, Number(u[k])])) as UnwindRunStats;
}

/**
 * The stored counters read back. The column is untyped JSON written by older or newer controllers
 * alike: a counter it lacks reads as 0 rather than failing the whole job view.
 */
export function unwindView(stored: Prisma.JsonValue | null): UnwindRunStats | null {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return null;
  return Object.fromEntries(KEYS.map((k) => [k, Number(stored[k] ?? 0) || 0])) as UnwindRunStats;
}
