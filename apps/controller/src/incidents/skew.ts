/** One run of an incident, as far as start times go. */
export interface RunStart {
  job: string;
  node: string;
  /** The agent's STARTED event time (its at_unix_ms), null while the run has not started. */
  startedAt: Date | null;
}

export interface StartSkew {
  /** Latest minus earliest actual start over the runs that started; null with fewer than one. */
  startSkewMs: number | null;
  earliest: string | null;
  latest: string | null;
  /** Runs that reported STARTED, of all runs. */
  started: number;
  runs: number;
  /** The slowest run to start after the common start time (ms; negative = early, i.e. clocks disagree). */
  maxDelayMs: number | null;
}

/**
 * How far apart the runs of an incident actually started. Start times come from each agent's own
 * clock, so the skew includes clock differences between nodes (zero on one host, NTP-sized otherwise).
 */
export function startSkew(runs: RunStart[], startAt: Date): StartSkew {
  const times = runs.flatMap((r) => (r.startedAt ? [r.startedAt.getTime()] : []));
  if (times.length === 0) return { startSkewMs: null, earliest: null, latest: null, started: 0, runs: runs.length, maxDelayMs: null };
  const min = Math.min(...times);
  const max = Math.max(...times);
  return {
    startSkewMs: max - min,
    earliest: new Date(min).toISOString(),
    latest: new Date(max).toISOString(),
    started: times.length,
    runs: runs.length,
    maxDelayMs: max - startAt.getTime(),
  };
}
