import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMessage } from '@tracefleet/proto';
import { AGENT_MAX_MESSAGE_BYTES, AGENT_MAX_STRINGS, overAgentBounds as overBounds } from './message-bounds';
import { AGENT_MAX_PROFILE_STACKS, splitFolded, type FoldedBatch } from './runs/cpu-profile/aggregate';
import { BATCH_BOUNDS } from './runs/registry';
import { boundedString, MAX_STRING_UNITS, StringTable } from './runs/string-table';

const RUN = '0b8e2c55-1f55-4c6e-9d0e-3f4a5b6c7d8e';
/** With every run type's batches, as link.ts checks. */
const overAgentBounds = (msg: AgentMessage): string | undefined => overBounds(msg, BATCH_BOUNDS);

/** A flush of `n` distinct 256-frame stacks, each frame a distinct 200-byte name: the worst a busy host gives. */
function hugeFlush(n: number): FoldedBatch {
  const table = new StringTable();
  const stacks = Array.from({ length: n }, (_, i) => ({ frames: Array.from({ length: 256 }, (_, f) => table.intern(`${i % 50}_${f}_${'n'.repeat(200)}`)), count: i + 1 }));
  return { strings: table.strings, stacks, samples: stacks.reduce((a, s) => a + s.count, 0) };
}

describe('what the agent sends stays under the controller caps', () => {
  it('cuts long strings to 1,024 units without splitting a surrogate pair, and interns by the cut string', () => {
    assert.equal(boundedString('short'), 'short');
    const long = 'x'.repeat(5000);
    assert.equal(boundedString(long).length, MAX_STRING_UNITS);
    assert.ok(boundedString(long).endsWith('...'));
    const emoji = `${'a'.repeat(MAX_STRING_UNITS - 4)}🙂🙂🙂`;
    const cut = boundedString(emoji);
    assert.ok(cut.length <= MAX_STRING_UNITS && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(cut), JSON.stringify(cut.slice(-6)));
    const t = new StringTable();
    assert.equal(t.intern(`${long}a`), t.intern(`${long}b`));
    assert.ok(Buffer.byteLength(t.strings[0]) <= 3 * MAX_STRING_UNITS);
  });

  it('splits a flush into batches within the stack, string and byte bounds, keeping every sample on its stack', () => {
    const flush = hugeFlush(25_000);
    const parts = splitFolded(flush);
    assert.ok(parts.length > 1);
    let samples = 0;
    let stacks = 0;
    for (const p of parts) {
      assert.ok(p.stacks.length <= AGENT_MAX_PROFILE_STACKS);
      assert.ok(p.strings.length <= AGENT_MAX_STRINGS);
      const msg: AgentMessage = { msg: { $case: 'profileBatch', value: { runId: RUN, seq: 1n, strings: p.strings, stacks: p.stacks.map((s) => ({ frames: s.frames, count: BigInt(s.count), origin: 0 })), origins: [] } } };
      assert.equal(overAgentBounds(msg), undefined);
      assert.ok(AgentMessage.encode(msg).finish().length <= AGENT_MAX_MESSAGE_BYTES);
      samples += p.samples;
      stacks += p.stacks.length;
    }
    assert.equal(samples, flush.samples);
    assert.equal(stacks, flush.stacks.length);
    // Same names, same order, per stack.
    const names = (b: FoldedBatch, i: number): string => b.stacks[i].frames.map((f) => b.strings[f]).join(';');
    assert.equal(names(parts[1], 0), names(flush, parts[0].stacks.length));
    assert.deepEqual(splitFolded({ strings: [], stacks: [], samples: 0 }), [{ strings: [], stacks: [], samples: 0 }]);
  });

  it('refuses to send a batch over the bounds (strings, stacks, bytes), and lets other messages through', () => {
    const batch = (strings: string[], stacks = 0): AgentMessage => ({ msg: { $case: 'profileBatch', value: { runId: RUN, seq: 1n, strings, stacks: Array.from({ length: stacks }, () => ({ frames: [0], count: 1n, origin: 0 })), origins: [] } } });
    assert.match(overAgentBounds(batch(Array(AGENT_MAX_STRINGS + 1).fill('a'))) ?? '', /strings/);
    assert.match(overAgentBounds(batch(['a'], AGENT_MAX_PROFILE_STACKS + 1)) ?? '', /stacks/);
    assert.match(overAgentBounds(batch(Array(1000).fill('x'.repeat(5000)))) ?? '', /bytes/);
    assert.equal(overAgentBounds({ msg: { $case: 'heartbeat', value: { sentAtUnixMs: 1n, runningRunIds: [] } } }), undefined);
  });
});
