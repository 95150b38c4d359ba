/** The one error type of the /proc reader. */

/**
 * `EINVAL`: not a pid; `EGONE`: the process (or the file asked for) does not exist (ENOENT, ESRCH);
 * `EACCES`: not allowed to read it; `EREAD`: any other failure.
 */
export type ProcErrorCode = 'EINVAL' | 'EGONE' | 'EACCES' | 'EREAD';

export class ProcError extends Error {
  constructor(
    readonly code: ProcErrorCode,
    readonly pid: number,
    message: string,
    /** the operating system's own message (e.g. "ENOENT: no such file or directory, open '/proc/1/maps'") */
    readonly detail: string = message,
    /** errno code of the failed call (ENOENT, EACCES, ...) */
    readonly errno?: string,
  ) {
    super(message);
    this.name = 'ProcError';
  }
}

/** A ProcError for a failed read of `what` of `pid` at `path`: "cannot read <what> of pid N (<path>): <os message>". */
export function procReadError(pid: number, what: string, path: string, err: unknown): ProcError {
  const errno = (err as NodeJS.ErrnoException).code;
  const detail = err instanceof Error ? err.message : String(err);
  const code = errno === 'ENOENT' || errno === 'ESRCH' ? 'EGONE' : errno === 'EACCES' || errno === 'EPERM' ? 'EACCES' : 'EREAD';
  return new ProcError(code, pid, `cannot read ${what} of pid ${pid} (${path}): ${detail}`, detail, errno);
}
