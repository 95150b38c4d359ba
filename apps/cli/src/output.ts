/**
 * What the CLI writes: data on stdout, messages on stderr, exit codes scripts can test. The API's
 * answers are untrusted for a terminal: node names, comms and messages come from agents and may hold
 * escape sequences, so every string from it goes through `clean` before it is printed as text.
 */

export const EXIT = {
  ok: 0,
  /** A request refused, a job that failed, bad usage, the controller unreachable. */
  failed: 1,
  /** The job ended with part of its results: some nodes failed, data was lost, or it was stopped. */
  partial: 2,
  /** Ctrl-C: detached from a job that keeps running. */
  interrupted: 130,
} as const;

/** An error the CLI reports as `tracefleet: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** The exit code for how a job (or incident) ended. */
export function exitCodeFor(status: string): number {
  switch (status) {
    case 'completed':
      return EXIT.ok;
    case 'partial':
    case 'stopped':
      return EXIT.partial;
    default:
      return EXIT.failed;
  }
}

export const TERMINAL_JOB: readonly string[] = ['completed', 'partial', 'failed', 'stopped'];
export const isTerminal = (status: string): boolean => TERMINAL_JOB.includes(status);

// C0 controls but tab, DEL, C1 controls (0x80-0x9f: 0x9b is a one-byte CSI), the bidi overrides and
// isolates, and the line and paragraph separators. Escape sequences lose their ESC and become
// harmless text; a newline inside a value cannot forge a line of output.
const UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A value from the API made safe to print on a terminal: control characters become U+FFFD. */
export function clean(value: unknown): string {
  const s = value === null || value === undefined ? '' : typeof value === 'string' ? value : String(value);
  return s.replace(UNSAFE, '\ufffd');
}

/** Columns padded to their widest cell; every cell cleaned. */
export function table(header: string[], rows: unknown[][]): string {
  const cells = [header, ...rows.map((r) => r.map(clean))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n') + '\n';
}

/** Where output goes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stdout and stderr are terminals and NO_COLOR is unset: progress may draw bars (on stderr). */
  errTty: boolean;
  /** stdin and stderr are terminals: the CLI may ask a question. */
  interactive: boolean;
}

export function processIo(): Io {
  // Output redirected to a file or a pipe is a script's: plain lines then, as with NO_COLOR.
  const errTty = Boolean(process.stderr.isTTY) && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    errTty,
    interactive: Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY),
  };
}

/** Machine output: one JSON document on stdout. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

/** A message on stderr (cleaned: it may quote the API). */
export function note(io: Io, text: string): void {
  io.err(`${clean(text)}\n`);
}

/** "12:03:04" of an ISO time, or "-". */
export function hms(iso: unknown): string {
  if (typeof iso !== 'string') return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().slice(11, 19);
}

/** "2026-12-05 12:03:04" of an ISO time, or "-". */
export function when(iso: unknown): string {
  if (typeof iso !== 'string') return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().slice(0, 19).replace('T', ' ');
}

/** 1536 → "1.5 KiB". */
export function bytes(n: unknown): string {
  let v = Number(n);
  if (!Number.isFinite(v)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
