import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SymbolizerStats } from '@tracefleet/native';
import { loadConfig } from '../config';
import { symbolizerNotes } from './symbolizer-notes';

const quiet: SymbolizerStats = {
  files: 3,
  symbols: 100,
  processes: 1,
  cachedAddresses: 10,
  lookups: 20,
  cacheHits: 10,
  mapsReads: 1,
  perfMapsRefused: 0,
  perfMapLinesTooLong: 0,
  perfMapBytesNotRead: 0,
  mappingsRefused: 0,
  lastRefusal: '',
};

describe('perf map limit and refusal notes', () => {
  it('TRACEFLEET_AGENT_PERF_MAP_MB defaults to 64 MiB and names itself when hostile', () => {
    const base = { TRACEFLEET_CA_CERT: '/fleet/ca.pem', TRACEFLEET_ENROLLMENT_TOKEN: 'x'.repeat(32), TRACEFLEET_NODE_NAME: 'n1' };
    assert.equal(loadConfig(base).perfMapBytes, 64 * 1024 * 1024);
    assert.equal(loadConfig({ ...base, TRACEFLEET_AGENT_PERF_MAP_MB: '8' }).perfMapBytes, 8 * 1024 * 1024);
    for (const bad of ['0', '-1', '4097', '1.5', 'abc', '1e9', ' ', '9'.repeat(40)]) {
      assert.throws(() => loadConfig({ ...base, TRACEFLEET_AGENT_PERF_MAP_MB: bad }), /TRACEFLEET_AGENT_PERF_MAP_MB/, bad);
    }
  });

  it('says nothing when nothing was refused, and each kind of refusal when there was', () => {
    assert.deepEqual(symbolizerNotes({ stats: () => quiet }), []);
    assert.deepEqual(symbolizerNotes(undefined), []);
    assert.deepEqual(symbolizerNotes({ stats: () => { throw new Error('closed'); } }), []);
    const notes = symbolizerNotes({
      stats: () => ({ ...quiet, perfMapsRefused: 1, mappingsRefused: 2, perfMapLinesTooLong: 3, perfMapBytesNotRead: 4096, lastRefusal: 'perf map /tmp/perf-1.map: world-writable' }),
    });
    assert.deepEqual(notes, [
      'symbols: 1 perf map(s) and 2 executable mapping(s) refused, no names taken from them (latest: perf map /tmp/perf-1.map: world-writable)',
      'symbols: 3 perf map line(s) longer than 8 KiB skipped',
      'symbols: 4096 bytes of perf maps beyond the size limit (TRACEFLEET_AGENT_PERF_MAP_MB) left unread',
    ]);
  });
});
