import assert from 'node:assert/strict';

/**
 * Observations of one step of a controller replica's dispatch histogram (dispatch_step_duration_seconds), read
 * from GET /metrics at the replica's root (`apiBase` is its /api/v1 address) with the metrics token. Read from
 * the text itself: parse-prometheus-text-format keeps only the buckets of a histogram with labels besides `le`
 * (no labels, count or sum). A step not observed yet has no series: 0.
 */
export async function dispatchStepCount(apiBase: string, metricsToken: string, step: string): Promise<number> {
  const res = await fetch(`${apiBase.replace(/\/api\/v1$/, '')}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  assert.equal(res.status, 200, `GET /metrics → ${res.status}`);
  const m = new RegExp(`^tracefleet_controller_dispatch_step_duration_seconds_count\\{step="${step}"\\} (\\d+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : 0;
}

/**
 * The value of one series of a counter (`labels` exactly, in any order) on a controller replica's GET /metrics;
 * a series not counted yet has no line: 0.
 */
export async function counterValue(apiBase: string, metricsToken: string, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`${apiBase.replace(/\/api\/v1$/, '')}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
  assert.equal(res.status, 200, `GET /metrics → ${res.status}`);
  const want = Object.entries(labels).sort().map(([k, v]) => `${k}="${v}"`).join(',');
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && m[2].split(',').sort().join(',') === want) return Number(m[3]);
  }
  return 0;
}
