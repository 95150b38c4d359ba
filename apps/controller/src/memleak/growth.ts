/** Per-stack growth across a run's snapshots: what a leak looks like is bytes that keep rising. */
export interface StackSeries {
  /** Outstanding bytes in each snapshot, oldest first (0 where the stack had none). */
  bytes: bigint[];
}

export interface Growth {
  firstBytes: bigint;
  lastBytes: bigint;
  growthBytes: bigint;
  /** Rose between at least two snapshots and never fell: the leak suspect. */
  growing: boolean;
}

export function growth(series: bigint[]): Growth {
  const first = series[0] ?? 0n;
  const last = series[series.length - 1] ?? 0n;
  let rises = 0;
  let falls = 0;
  for (let i = 1; i < series.length; i++) {
    if (series[i] > series[i - 1]) rises++;
    else if (series[i] < series[i - 1]) falls++;
  }
  return { firstBytes: first, lastBytes: last, growthBytes: last - first, growing: rises >= 1 && falls === 0 && series.length >= 2 && last > first };
}
