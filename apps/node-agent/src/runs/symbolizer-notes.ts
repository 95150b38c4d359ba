import type { Symbolizer, SymbolizerStats } from '@tracefleet/native';

/**
 * What a run's user should know about files its symbolizer would not read: a perf map refused
 * (another owner, world-writable, not a regular file), executable mappings that are devices,
 * perf map lines or bytes beyond the limits. Goes into RunFinished.reason; [] when there is none.
 */
export function symbolizerNotes(symbolizer: Pick<Symbolizer, 'stats'> | undefined): string[] {
  let s: SymbolizerStats | undefined;
  try {
    s = symbolizer?.stats?.();
  } catch {
    return []; // closed already
  }
  if (!s) return [];
  const notes: string[] = [];
  const latest = s.lastRefusal ? ` (latest: ${s.lastRefusal})` : '';
  if (s.perfMapsRefused > 0 || s.mappingsRefused > 0) {
    notes.push(`symbols: ${s.perfMapsRefused} perf map(s) and ${s.mappingsRefused} executable mapping(s) refused, no names taken from them${latest}`);
  }
  if (s.perfMapLinesTooLong > 0) notes.push(`symbols: ${s.perfMapLinesTooLong} perf map line(s) longer than 8 KiB skipped`);
  if (s.perfMapBytesNotRead > 0) notes.push(`symbols: ${s.perfMapBytesNotRead} bytes of perf maps beyond the size limit (TRACEFLEET_AGENT_PERF_MAP_MB) left unread`);
  return notes;
}
