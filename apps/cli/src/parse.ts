/** Parsers of command-line values. Each throws InvalidArgumentError, which commander reports naming the flag. */
import { InvalidArgumentError } from 'commander';

/** "30s", "2m", "1h", "1500ms" or plain seconds ("45") → whole seconds; sub-second and fractional seconds are refused. */
export function parseDuration(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError(`"${raw}" is not a duration: use 30s, 2m, 1h or plain seconds`);
  const n = Number(m[1]);
  const ms = n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (ms < 1000) throw new InvalidArgumentError(`"${raw}" is under a second: jobs run for whole seconds (at least 1s)`);
  if (ms % 1000 !== 0) throw new InvalidArgumentError(`"${raw}" is not a whole number of seconds`);
  return ms / 1000;
}

/** "5m" or milliseconds → milliseconds (schedule intervals). */
export function parseIntervalMs(raw: string): number {
  return parseDuration(raw) * 1000;
}

export function parsePositiveInt(raw: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) throw new InvalidArgumentError(`"${raw}" is not a positive integer`);
  return Number(raw);
}

export function parseNonNegativeInt(raw: string): number {
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) throw new InvalidArgumentError(`"${raw}" is not an integer of 0 or more`);
  return Number(raw);
}

/** For repeatable options: each value appended. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export type ProfileFormat = 'svg' | 'folded' | 'pprof' | 'speedscope';

/** The job route that serves each output format. */
export const PROFILE_ROUTES: Record<ProfileFormat, string> = {
  svg: 'flamegraph.svg',
  folded: 'flamegraph.folded',
  pprof: 'profile.pprof',
  speedscope: 'profile.speedscope.json',
};

/** The output format a file name asks for, by its extension. */
export function formatOf(file: string): ProfileFormat {
  const f = file.toLowerCase();
  if (f.endsWith('.speedscope.json')) return 'speedscope';
  if (f.endsWith('.svg')) return 'svg';
  if (f.endsWith('.folded') || f.endsWith('.collapsed')) return 'folded';
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  throw new InvalidArgumentError(`cannot tell the format of "${file}": name it *.svg, *.folded, *.pb.gz or *.speedscope.json`);
}

/** Checks -o early (before a job runs for minutes): a name it can write. */
export function parseOutputFile(raw: string): string {
  formatOf(raw);
  return raw;
}

/** The diff routes take svg or folded. */
export function diffFormatOf(file: string): 'svg' | 'folded' {
  const f = formatOf(file);
  if (f !== 'svg' && f !== 'folded') throw new InvalidArgumentError(`a diff is written as *.svg or *.folded, not "${file}"`);
  return f;
}

/**
 * The `nodes` of a job body: "all"; node names (--node, repeatable) as { names }; a label selector
 * string passed through as { selector } for the controller to parse (the syntax of GET /nodes?labelSelector=).
 */
export function nodesBody(selector: string | undefined, names: string[] | undefined): unknown {
  const sel = selector?.trim();
  if (names?.length && sel && sel !== 'all') return { names, selector: sel };
  if (names?.length) return { names };
  if (!sel || sel === 'all') return 'all';
  return { selector: sel };
}

export interface TargetFlags {
  pid?: number;
  comm?: string;
  all?: boolean;
  cgroup?: string;
  container?: string;
}

/** The job's target: exactly one of --pid, --comm, --all, --cgroup, --container. */
export function targetBody(flags: TargetFlags): Record<string, unknown> {
  const given = (['pid', 'comm', 'all', 'cgroup', 'container'] as const).filter((k) => flags[k] !== undefined && flags[k] !== false);
  if (given.length !== 1) {
    throw new InvalidArgumentError(
      given.length === 0 ? 'say what to trace: --pid N, --comm NAME or --all (or --cgroup PATH, --container ID)' : `give one target, not ${given.map((g) => `--${g}`).join(' and ')}`,
    );
  }
  const k = given[0];
  return { [k]: k === 'all' ? true : flags[k] };
}

/** "begin,end[,label]" of a usdt pair. */
export function parsePair(raw: string, previous: { begin: string; end: string; label?: string }[] | undefined): { begin: string; end: string; label?: string }[] {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new InvalidArgumentError(`"${raw}" is not a pair: provider:begin,provider:end[,label]`);
  const pair = { begin: parts[0], end: parts[1], ...(parts[2] ? { label: parts[2] } : {}) };
  return [...(previous ?? []), pair];
}
