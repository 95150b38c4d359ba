import { possibleCpus } from '../kernel-memory';

/** One ring record: struct profile_event (packages/bpf/src/profile/profile.h: 40 bytes of head, 127 + 127 stack slots, 128 Python frames) and the ring's 8-byte header. */
export const PROFILE_RECORD_BYTES = 8 + 40 + 2 * 127 * 8 + 128 * 8;
const MIN_RING_BYTES = 256 << 10;
/** What every profile used before the ring was sized by rate (the native default), and the most it gets now. */
export const MAX_PROFILE_RING_BYTES = 4 << 20;

/**
 * The profiler's ring buffer for a sampling rate: one second of samples at that rate on every CPU, as a power of
 * two in [256 KiB, 4 MiB]. The poll thread only copies records out (native/src/profile_session.cc) and is woken
 * when the ring is 1/8 full, so a second is far more than it ever lags; a ring that does overflow is counted
 * (samplesDroppedKernel), never silent. Each byte of it is agent RSS too: the agent maps the data pages twice
 * (libbpf's ring_buffer), so the old fixed 4 MiB cost 8 MiB of RSS on every host, where a 99 Hz profile of a
 * 2-CPU host fills 0.6 MiB a second.
 */
export function profileRingBytes(frequencyHz: number, cpus = possibleCpus()): number {
  const want = frequencyHz * cpus * PROFILE_RECORD_BYTES;
  let bytes = MIN_RING_BYTES;
  while (bytes < want && bytes < MAX_PROFILE_RING_BYTES) bytes *= 2;
  return bytes;
}
