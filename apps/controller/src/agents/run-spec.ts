import { MemleakMode, type StartRun, type UsdtProbeRef } from '@tracefleet/proto';
import type { MemleakParams, SslParams, UsdtParams } from '../common/job-params';
import { jobTypeDef } from '../job-types/registry';

function probeRef(p: string): UsdtProbeRef {
  const [provider, name] = p.split(':');
  return { provider, name };
}

/** The StartRun spec for stored job parameters. */
export function runSpec(type: string, params: Record<string, unknown>): StartRun['spec'] {
  const registered = jobTypeDef(type);
  if (registered) return registered.spec(params);
  if (type === 'cpu_profile') return { $case: 'cpuProfile', value: { frequencyHz: params.frequencyHz as number } };
  if (type === 'memleak') {
    const m = params as unknown as MemleakParams;
    return {
      $case: 'memleak',
      value: {
        mode: m.mode === 'kernel' ? MemleakMode.MEMLEAK_MODE_KERNEL : MemleakMode.MEMLEAK_MODE_USER,
        intervalSec: m.intervalSec,
        minAgeSec: m.minAgeSec,
        sampleEvery: m.sampleEvery,
        sampleBytes: BigInt(m.sampleBytes),
        maxAllocs: m.maxAllocs,
        topN: m.topN,
      },
    };
  }
  if (type === 'ssl_capture') {
    const p = params as unknown as SslParams;
    return {
      $case: 'sslCapture',
      value: {
        maxDataBytes: p.maxDataBytes,
        binaries: p.binaries,
        userStacks: p.userStacks,
        maxEvents: p.maxEvents,
        maxTotalBytes: BigInt(p.maxTotalBytes),
        redactHeaders: p.redactHeaders,
        redactPatterns: p.redactPatterns,
        redactionOff: !p.redaction,
        handshakes: p.handshakes,
      },
    };
  }
  const u = params as unknown as UsdtParams;
  return {
    $case: 'usdt',
    value: {
      probes: u.probes.map(probeRef),
      binary: u.binary ?? '',
      pairs: u.pairs.map((p) => ({ label: p.label, begin: probeRef(p.begin), end: probeRef(p.end) })),
      maxEvents: u.maxEvents,
      slowestN: u.slowestN,
      userStacks: u.userStacks,
      preset: u.preset ?? '',
    },
  };
}
