import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequestException } from '@nestjs/common';
import { groupFrame, likeEscape, originKey, originQuery, sanitizeOrigin } from './origins';
import { cgroupPathError } from '../common/cgroup-path';
import { decodePprof, pprofStacks } from './pprof/pprof-decode';
import { encodePprof } from './pprof/pprof';

const ID = 'c'.repeat(64);

describe('origins', () => {
  it('keeps what an agent reports when it is well formed', () => {
    const o = sanitizeOrigin({ cgroup: `/docker/${ID}`, containerId: ID, podUid: '' });
    assert.deepEqual(o, { cgroup: `/docker/${ID}`, containerId: ID, podUid: undefined });
    assert.equal(sanitizeOrigin({ cgroup: '', containerId: '', podUid: '' }), undefined, 'empty: not known');
  });

  it('makes hostile origins harmless: escapes control and bidi characters, cuts long paths, drops ids that are not ids', () => {
    const o = sanitizeOrigin({ cgroup: `/a\u001b[31m\u202e${'x'.repeat(5000)}`, containerId: ID.toUpperCase(), podUid: "1' OR 1=1" })!;
    assert.ok(o.cgroup.startsWith('/a\\u001b[31m\\u202e'), o.cgroup.slice(0, 40));
    assert.ok(o.cgroup.length <= 4096 + 3 && o.cgroup.endsWith('...'));
    assert.equal(o.containerId, undefined);
    assert.equal(o.podUid, undefined);
    assert.equal(sanitizeOrigin({ cgroup: '', containerId: ID, podUid: '' })?.cgroup, '?');
    assert.notEqual(originKey({ cgroup: '/a', containerId: 'b' }), originKey({ cgroup: '/a\0b' }));
  });

  it('checks the query of stack outputs, naming the bad parameter', () => {
    assert.deepEqual(originQuery({ container: 'abcd', cgroup: '/system.slice', groupBy: 'pod' }), { filter: { container: 'abcd', cgroup: '/system.slice' }, groupBy: 'pod' });
    for (const [q, msg] of [
      [{ container: 'abc' }, /container must be/],
      [{ container: ['abcd', 'abcd'] }, /container must be/],
      [{ container: 'ABCD' }, /container must be/],
      [{ cgroup: 'x' }, /cgroup must be an absolute/],
      [{ cgroup: '/a/../b' }, /cgroup must not hold empty/],
      [{ cgroup: ['/a'] }, /cgroup must be one cgroup path/],
      [{ groupBy: 'node' }, /groupBy must be one of container, pod, cgroup/],
    ] as const) {
      assert.throws(() => originQuery(q as never), (e: unknown) => e instanceof BadRequestException && msg.test(String((e.getResponse() as { message: string }).message)), JSON.stringify(q));
    }
  });

  it('takes cgroup paths that are absolute, clean and short', () => {
    assert.equal(cgroupPathError('/'), undefined);
    assert.equal(cgroupPathError('/kubepods/pod1/abc'), undefined);
    assert.match(cgroupPathError('/a/')!, /must not end with/);
    assert.match(cgroupPathError('/a//b')!, /empty/);
    assert.match(cgroupPathError('/a/\nb')!, /control/);
    assert.match(cgroupPathError(`/${'x'.repeat(4096)}`)!, /at most 4096/);
  });

  it('names group roots and escapes LIKE wildcards', () => {
    assert.equal(groupFrame('container', { cgroup: '/', containerId: ID }), `container ${ID.slice(0, 12)}`);
    assert.equal(groupFrame('container', undefined), '[no container]');
    assert.equal(groupFrame('pod', { cgroup: '/' }), '[no pod]');
    assert.equal(groupFrame('cgroup', { cgroup: '/a' }), 'cgroup /a');
    assert.equal(likeEscape('/a_b%c\\'), '/a\\_b\\%c\\\\');
  });

  it('labels pprof samples with cgroup, container and pod uid where known', () => {
    const pod = '0f0e0d0c-0b0a-4908-8706-050403020100';
    const prof = decodePprof(
      encodePprof({
        nodes: [{ node: 'n1', stacks: [{ frames: ['a', 'b'], count: 2, origin: { cgroup: `/k/pod${pod}/${ID}`, containerId: ID, podUid: pod } }, { frames: ['a'], count: 1 }] }],
      }),
    );
    const stacks = pprofStacks(prof);
    assert.deepEqual(stacks.find((s) => s.frames.length === 2)?.labels, { node: 'n1', cgroup: `/k/pod${pod}/${ID}`, container: ID, pod_uid: pod });
    assert.deepEqual(stacks.find((s) => s.frames.length === 1)?.labels, { node: 'n1' });
  });
});
