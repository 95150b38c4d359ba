import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PROFILE_RING_BYTES, PROFILE_RECORD_BYTES, profileRingBytes } from './ring-bytes';

describe('profileRingBytes', () => {
  it('holds a second of samples at the rate on every CPU, as a power of two', () => {
    for (const [hz, cpus] of [[99, 2], [99, 4], [250, 3], [19, 1], [1000, 1]] as const) {
      const bytes = profileRingBytes(hz, cpus);
      assert.equal(bytes & (bytes - 1), 0, `${bytes} is a power of two`);
      assert.ok(bytes >= hz * cpus * PROFILE_RECORD_BYTES, `${hz} Hz × ${cpus} CPUs fits in ${bytes}`);
      assert.ok(bytes === 256 << 10 || bytes / 2 < hz * cpus * PROFILE_RECORD_BYTES, `${bytes} is the smallest that fits`);
    }
    assert.equal(profileRingBytes(99, 2), 1 << 20);
  });

  it('is never below 256 KiB nor above what every profile had before (4 MiB)', () => {
    assert.equal(profileRingBytes(1, 1), 256 << 10);
    assert.equal(profileRingBytes(999, 2), MAX_PROFILE_RING_BYTES);
    assert.equal(profileRingBytes(99, 256), MAX_PROFILE_RING_BYTES);
  });

  it('counts the record the BPF program reserves (profile.h and limits.h)', () => {
    const bpf = join(require.resolve('@tracefleet/bpf'), '..', 'src');
    const limits = readFileSync(join(bpf, 'limits.h'), 'utf8') + readFileSync(join(bpf, 'python/python.h'), 'utf8');
    const define = (name: string): number => Number(new RegExp(`#define ${name} (\\d+)`).exec(limits)?.[1]);
    const header = readFileSync(join(bpf, 'profile/profile.h'), 'utf8');
    // The fields before the arrays: 5 × 4 bytes, comm, 2 × 2 bytes; then the three arrays of __u64.
    assert.match(header, /__u32 pid;[\s\S]*__u32 tid;[\s\S]*__u32 cpu;[\s\S]*__s32 kernel_stack_bytes;[\s\S]*__s32 user_stack_bytes;[\s\S]*char comm\[TRACEFLEET_COMM_LEN\];[\s\S]*__s16 py_frames_count;[\s\S]*__u16 py_truncated;[\s\S]*__u64 kernel_stack\[TRACEFLEET_MAX_STACK_DEPTH\];[\s\S]*__u64 user_stack\[TRACEFLEET_MAX_STACK_DEPTH\];[\s\S]*__u64 py_frames\[TRACEFLEET_MAX_PY_FRAMES\];/);
    const head = Math.ceil((5 * 4 + define('TRACEFLEET_COMM_LEN') + 2 * 2) / 8) * 8;
    const event = head + 8 * (2 * define('TRACEFLEET_MAX_STACK_DEPTH') + define('TRACEFLEET_MAX_PY_FRAMES'));
    assert.equal(PROFILE_RECORD_BYTES, 8 + event);
  });
});
