import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  containerRefProblem,
  findCgroupProcesses,
  findContainerProcesses,
  isUnderCgroup,
  OriginCache,
  originOf,
  parseProcCgroup,
  ProcError,
  processMatchesCgroup,
  processMatchesContainer,
  readProcessCgroups,
  resolveContainer,
  validateCgroupTarget,
  validateContainerRef,
  type ProcessCgroups,
} from '.';

const ID = '9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0';
const OUTER = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const POD = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const POD_ = POD.replaceAll('-', '_');
const STATIC_POD = '5a0b1e1f8b9b0c2d3e4f5a6b7c8d9e0f';

/** The origin of a /proc/PID/cgroup text. */
const originOfText = (text: string) => originOf(parseProcCgroup(text));

describe('lib/proc/cgroup: parseProcCgroup', () => {
  it('reads v1 lines, the v2 line, and paths holding colons and unicode', () => {
    const text = '9:name=systemd:/\n4:memory:/process_api/d0c1e7b00e3a3be123c597f63a442dee\n2:cpu,cpuacct:/a:b:c\n1:cpu:/système/ünï\n0::/\n';
    assert.deepEqual(parseProcCgroup(text), {
      v2: '/',
      v1: [
        { controllers: 'name=systemd', path: '/' },
        { controllers: 'memory', path: '/process_api/d0c1e7b00e3a3be123c597f63a442dee' },
        { controllers: 'cpu,cpuacct', path: '/a:b:c' },
        { controllers: 'cpu', path: '/système/ünï' },
      ],
    });
    assert.deepEqual(parseProcCgroup('0::/system.slice/sshd.service\n'), { v2: '/system.slice/sshd.service', v1: [] });
    assert.deepEqual(parseProcCgroup(''), { v1: [] });
  });

  it('skips lines that do not parse', () => {
    const bad = ['garbage', 'x:cpu:/a', '1:cpu:relative', '0:cpu:/a', '3::/a', ':cpu:/a', '1:cpu', '12345678901:cpu:/a', ''];
    assert.deepEqual(parseProcCgroup(`${bad.join('\n')}\n5:memory:/ok\n`), { v1: [{ controllers: 'memory', path: '/ok' }] });
  });

  it('drops NUL and control characters, and paths over 4096 characters', () => {
    assert.deepEqual(parseProcCgroup('0::/a\0b\n1:cpu:/x\x1b[2J\n2:memory:/y\r\n3:pids:/z\u009b\n'), { v1: [] });
    assert.equal(parseProcCgroup(`0::/${'a'.repeat(4095)}`).v2?.length, 4096);
    assert.equal(parseProcCgroup(`0::/${'a'.repeat(4096)}`).v2, undefined);
  });

  it('is bounded: huge lines, 10,000 lines, a 100 MB text', () => {
    assert.deepEqual(parseProcCgroup(`1:cpu:/${'a'.repeat(10_000)}\n0::/ok`), { v2: '/ok', v1: [] });
    assert.deepEqual(parseProcCgroup(`0::/${'a'.repeat(10_000_000)}\n1:cpu:/late`), { v1: [] });
    const many = Array.from({ length: 10_000 }, (_, i) => `${i + 1}:cpu:/g${i}`);
    const parsed = parseProcCgroup(`${many.join('\n')}\n0::/late\n`);
    assert.equal(parsed.v1.length, 64);
    assert.equal(parsed.v2, undefined);
    const started = process.hrtime.bigint();
    assert.deepEqual(parseProcCgroup('x'.repeat(100_000_000)), { v1: [] });
    assert.ok(process.hrtime.bigint() - started < 1_000_000_000n, 'a 100 MB text is not scanned');
  });

  it('trusts no line of a hierarchy that appears twice (a cgroup name with a newline)', () => {
    const injected = `4:memory:/evil\n0::/docker/${ID}\n1:cpu:/\n0::/real\n`;
    assert.deepEqual(parseProcCgroup(injected), { v1: [{ controllers: 'memory', path: '/evil' }, { controllers: 'cpu', path: '/' }] });
    assert.equal(originOfText(injected).containerId, undefined);
  });
});

describe('lib/proc/cgroup: originOf', () => {
  const shapes: [string, string, { cgroup: string; containerId?: string; podUid?: string }][] = [
    ['docker, cgroupfs driver, v1 (this host)', `12:cpu,cpuacct:/docker/${ID}\n9:name=systemd:/docker/${ID}\n4:memory:/docker/${ID}\n0::/\n`, { cgroup: `/docker/${ID}`, containerId: ID }],
    ['docker, cgroupfs driver, v2', `0::/docker/${ID}\n`, { cgroup: `/docker/${ID}`, containerId: ID }],
    ['docker, systemd driver, v2', `0::/system.slice/docker-${ID}.scope\n`, { cgroup: `/system.slice/docker-${ID}.scope`, containerId: ID }],
    ['docker, systemd driver, v1', `5:cpu,cpuacct:/system.slice/docker-${ID}.scope\n1:name=systemd:/system.slice/docker-${ID}.scope\n`, { cgroup: `/system.slice/docker-${ID}.scope`, containerId: ID }],
    [
      'containerd, kubepods besteffort, systemd driver',
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${ID}.scope\n`,
      { cgroup: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/cri-containerd-${ID}.scope`, containerId: ID, podUid: POD },
    ],
    [
      'CRI-O, kubepods burstable, systemd driver',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${ID}.scope\n`,
      { cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-${ID}.scope`, containerId: ID, podUid: POD },
    ],
    [
      'CRI-O conmon: the pod, no container',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${ID}.scope\n`,
      { cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${ID}.scope`, podUid: POD },
    ],
    ['kubepods guaranteed, systemd driver', `0::/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${ID}.scope\n`, { cgroup: `/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${ID}.scope`, containerId: ID, podUid: POD }],
    [
      'kubepods besteffort, cgroupfs driver, v1',
      `11:memory:/kubepods/besteffort/pod${POD}/${ID}\n3:cpu,cpuacct:/kubepods/besteffort/pod${POD}/${ID}\n1:name=systemd:/kubepods/besteffort/pod${POD}/${ID}\n`,
      { cgroup: `/kubepods/besteffort/pod${POD}/${ID}`, containerId: ID, podUid: POD },
    ],
    ['kubepods guaranteed, cgroupfs driver, v2', `0::/kubepods/pod${POD}/${ID}\n`, { cgroup: `/kubepods/pod${POD}/${ID}`, containerId: ID, podUid: POD }],
    ['a static pod (32-hex uid)', `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_POD}.slice/cri-containerd-${ID}.scope\n`, { cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_POD}.slice/cri-containerd-${ID}.scope`, containerId: ID, podUid: STATIC_POD }],
    ['kind: a pod inside a docker container (innermost id)', `0::/docker/${OUTER}/kubepods/burstable/pod${POD}/${ID}\n`, { cgroup: `/docker/${OUTER}/kubepods/burstable/pod${POD}/${ID}`, containerId: ID, podUid: POD }],
    ['podman, systemd, v2', `0::/machine.slice/libpod-${ID}.scope/container\n`, { cgroup: `/machine.slice/libpod-${ID}.scope/container`, containerId: ID }],
    ['podman rootless', `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope\n`, { cgroup: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, containerId: ID }],
    ['podman, cgroupfs manager', `0::/libpod_parent/libpod-${ID}\n`, { cgroup: `/libpod_parent/libpod-${ID}`, containerId: ID }],
    ['this host: a 32-hex name is no container', '9:name=systemd:/\n4:memory:/process_api/d0c1e7b00e3a3be123c597f63a442dee\n1:cpu:/\n0::/\n', { cgroup: '/process_api/d0c1e7b00e3a3be123c597f63a442dee' }],
    ['a systemd service', '0::/system.slice/sshd.service\n', { cgroup: '/system.slice/sshd.service' }],
    ['the root, v2 only', '0::/\n', { cgroup: '/' }],
    ['nothing readable', 'garbage\n', { cgroup: '/' }],
  ];
  for (const [name, text, want] of shapes) {
    it(name, () => assert.deepEqual(originOfText(text), want));
  }

  it('finds no container in ids of 63 or 65 hex, uppercase, lookalikes, or a bare id outside kubepods', () => {
    const not = [
      `/docker/${ID.slice(1)}`,
      `/docker/${ID}0`,
      `/docker/${ID.toUpperCase()}`,
      `/system.slice/docker-${ID.slice(1)}.scope`,
      `/system.slice/docker-${ID}.scopex`,
      `/system.slice/docker-${ID}.scope.d`,
      `/system.slice/${ID}`,
      `/system.slice/docker-${ID.slice(0, 63)}\uff10.scope`,
      `/machine.slice/libpod-conmon-${ID}.scope`,
      `/dockerx/${ID}`,
      `/notkubepods/pod${POD}/${ID}`,
    ];
    for (const path of not) assert.equal(originOfText(`0::${path}\n`).containerId, undefined, path);
  });

  it('normalises pod uids to lowercase with dashes, and wants them under kubepods', () => {
    assert.equal(originOfText(`0::/kubepods/besteffort/pod${POD.toUpperCase()}/${ID}\n`).podUid, POD);
    assert.equal(originOfText(`0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_.toUpperCase()}.slice\n`).podUid, POD);
    assert.equal(originOfText(`0::/system.slice/pod${POD}/x\n`).podUid, undefined);
    assert.equal(originOfText(`0::/kubepods/besteffort/pod${POD}x/${ID}\n`).podUid, undefined);
    assert.equal(originOfText(`0::/kubepods/besteffort/pod${POD.slice(1)}/${ID}\n`).podUid, undefined);
  });

  it('labels with v2 unless it is "/" beside v1, else the first non-root of name=systemd, cpu, memory, any', () => {
    const label = (c: ProcessCgroups) => originOf(c).cgroup;
    const l = (controllers: string, path: string) => ({ controllers, path });
    assert.equal(label({ v2: '/x', v1: [l('name=systemd', '/s')] }), '/x');
    assert.equal(label({ v2: '/', v1: [] }), '/');
    assert.equal(label({ v2: '/', v1: [l('pids', '/p'), l('memory', '/m'), l('cpu,cpuacct', '/c'), l('name=systemd', '/s')] }), '/s');
    assert.equal(label({ v2: '/', v1: [l('pids', '/p'), l('memory', '/m'), l('cpu,cpuacct', '/c'), l('name=systemd', '/')] }), '/c');
    assert.equal(label({ v1: [l('pids', '/p'), l('memory', '/m'), l('cpuset', '/cs')] }), '/m');
    assert.equal(label({ v1: [l('pids', '/'), l('blkio', '/b'), l('devices', '/d')] }), '/b');
    assert.equal(label({ v1: [l('pids', '/'), l('cpu', '/')] }), '/');
    assert.equal(label({ v1: [] }), '/');
  });
});

describe('lib/proc/cgroup: matching targets', () => {
  it('isUnderCgroup compares whole components', () => {
    const cases: [string, string, boolean][] = [
      ['/a/b', '/a/b', true],
      ['/a/b/c', '/a/b', true],
      ['/a/bc', '/a/b', false],
      ['/a', '/a/b', false],
      ['/ab/c', '/a', false],
      ['/', '/', true],
      ['/anything/at/all', '/', true],
      ['/', '/a', false],
      ['/../x', '/', false],
      ['/..', '/', false],
      ['/ünï/x', '/ünï', true],
    ];
    for (const [path, target, want] of cases) assert.equal(isUnderCgroup(path, target), want, `${path} under ${target}`);
  });

  it('processMatchesCgroup looks at v2 and every v1 path; processMatchesContainer at the id prefix', () => {
    const c = parseProcCgroup(`4:memory:/process_api/x\n1:cpu:/\n0::/system.slice/docker-${ID}.scope\n`);
    assert.ok(processMatchesCgroup(c, '/system.slice'));
    assert.ok(processMatchesCgroup(c, '/process_api'));
    assert.ok(processMatchesCgroup(c, '/'));
    assert.ok(!processMatchesCgroup(c, '/system'));
    assert.ok(!processMatchesCgroup({ v1: [] }, '/'));
    const o = originOf(c);
    assert.ok(processMatchesContainer(o, ID.slice(0, 12)));
    assert.ok(processMatchesContainer(o, ID));
    assert.ok(!processMatchesContainer(o, '9f8e7d6c5b4b'));
    assert.ok(!processMatchesContainer(o, ''));
    assert.ok(!processMatchesContainer({ cgroup: '/' }, '9f8e'));
  });

  it('validateCgroupTarget accepts clean absolute paths and says what is wrong with others', () => {
    for (const ok of ['/', '/a', `/system.slice/docker-${ID}.scope`, '/ünï.slice', '/a b', '/a..b', '/.hidden', `/${'a'.repeat(4095)}`]) {
      assert.equal(validateCgroupTarget(ok), undefined, ok);
    }
    const bad: [string, RegExp][] = [
      ['', /absolute/],
      ['a/b', /absolute/],
      ['/a/', /end with/],
      ['//', /end with/],
      ['/a//b', /empty components/],
      ['/a/./b', /"\." or "\.\."/],
      ['/a/../b', /"\." or "\.\."/],
      ['/..', /"\." or "\.\."/],
      ['/.', /"\." or "\.\."/],
      ['/a\0b', /NUL/],
      ['/a\nb', /control/],
      ['/a\x1b[2J', /control/],
      ['/a\u0085', /control/],
      [`/${'a'.repeat(4096)}`, /4096 bytes/],
      [`/${'é'.repeat(2048)}`, /4096 bytes/],
    ];
    for (const [path, want] of bad) assert.match(validateCgroupTarget(path) ?? '', want, JSON.stringify(path.slice(0, 20)));
    assert.match(validateCgroupTarget(42 as unknown as string) ?? '', /string/);
  });

  it('validateContainerRef wants 4 to 64 lowercase hex characters', () => {
    for (const ok of ['abcd', ID, ID.slice(0, 12)]) assert.equal(validateContainerRef(ok), undefined);
    for (const bad of ['', 'abc', `${ID}0`, 'ABCD', 'abcg', ' abcd', 'abcd\n', 'ａｂｃｄ']) {
      assert.match(validateContainerRef(bad) ?? '', /4 to 64 lowercase hex characters \[0-9a-f\]/);
    }
  });
});

describe('lib/proc/cgroup: scans and the origin cache', () => {
  const ID2 = `${ID.slice(0, 12)}${'0'.repeat(52)}`;
  const table = new Map<number, string>([
    [1, '0::/\n'],
    [2, `0::/system.slice/docker-${ID}.scope\n`],
    [3, 'gone'],
    [4, 'denied'],
    [5, `0::/system.slice/docker-${ID2}.scope\n`],
    [6, `0::/system.slice/docker-${ID}.scope/child\n`],
  ]);
  const read = (pid: number): ProcessCgroups => {
    const text = table.get(pid) ?? 'gone';
    if (text === 'gone') throw new ProcError('EGONE', pid, `pid ${pid} is gone`);
    if (text === 'denied') throw new ProcError('EACCES', pid, `pid ${pid}: permission denied`);
    return parseProcCgroup(text);
  };

  it('skips vanished processes silently and counts unreadable ones', () => {
    const byCgroup = findCgroupProcesses('/system.slice', table.keys(), read);
    assert.deepEqual(byCgroup.processes.map((p) => p.pid), [2, 5, 6]);
    assert.equal(byCgroup.unreadable, 1);
    const byContainer = findContainerProcesses(ID, [...table.keys(), 7], read);
    assert.deepEqual(byContainer.processes, [
      { pid: 2, origin: { cgroup: `/system.slice/docker-${ID}.scope`, containerId: ID }, cgroups: { v2: `/system.slice/docker-${ID}.scope`, v1: [] } },
      { pid: 6, origin: { cgroup: `/system.slice/docker-${ID}.scope/child`, containerId: ID }, cgroups: { v2: `/system.slice/docker-${ID}.scope/child`, v1: [] } },
    ]);
    assert.throws(() => findCgroupProcesses('/', [1], () => { throw new TypeError('bug'); }), TypeError);
  });

  it('resolveContainer gives distinct ids so that callers can refuse an ambiguous prefix', () => {
    const prefix = ID.slice(0, 12);
    const resolved = resolveContainer(prefix, table.keys(), read);
    assert.deepEqual({ ids: resolved.ids, unreadable: resolved.unreadable }, { ids: [ID2, ID].sort(), unreadable: 1 });
    assert.deepEqual(resolved.processes.map((p) => p.pid), [2, 5, 6], 'with the processes they were found in');
    assert.deepEqual(resolveContainer(ID.slice(0, 13), table.keys(), read).ids, [ID]);
    assert.deepEqual(resolveContainer('ffff', table.keys(), read).ids, []);
    assert.equal(containerRefProblem(prefix, [ID2, ID].sort()), `prefix ${prefix} matches 2 containers: ${[ID2, ID].sort().join(', ')}`);
    assert.equal(containerRefProblem('ffff', []), 'no running container has an id starting with ffff');
    assert.equal(containerRefProblem(prefix, [ID]), undefined);
    assert.match(containerRefProblem('aaaa', Array.from({ length: 7 }, (_, i) => `aaaa${i}`)) ?? '', /matches 7 containers: aaaa0, aaaa1, aaaa2, aaaa3, aaaa4, \.\.\.$/);
  });

  it('OriginCache reads each pid once, forgets on request, keeps a bounded number, and remembers no failure', () => {
    const reads: number[] = [];
    const cache = new OriginCache({ maxEntries: 2, read: (pid) => (reads.push(pid), read(pid)) });
    assert.equal(cache.originOf(2)?.containerId, ID);
    assert.equal(cache.originOf(2)?.containerId, ID);
    assert.deepEqual(reads, [2]);
    assert.equal(cache.originOf(3), undefined);
    assert.equal(cache.originOf(4), undefined);
    assert.equal(cache.originOf(3), undefined);
    assert.deepEqual(reads, [2, 3, 4, 3]);
    cache.originOf(1);
    cache.originOf(5);
    assert.equal(cache.size, 2);
    cache.originOf(2);
    assert.deepEqual(reads, [2, 3, 4, 3, 1, 5, 2], 'the oldest (2) was dropped for 5');
    cache.forget(2);
    cache.originOf(2);
    assert.equal(reads.at(-1), 2);
    assert.equal(reads.length, 8);
    assert.throws(() => new OriginCache({ maxEntries: 0 }), RangeError);
    assert.throws(() => new OriginCache({ maxEntries: Number.NaN }), RangeError);
  });

  it('OriginCache reads a pid again under a comm not seen for it (an exec into a container), once per comm', () => {
    let v2 = '/system.slice/containerd.service';
    const reads: number[] = [];
    const cache = new OriginCache({ read: (pid) => (reads.push(pid), { v2, v1: [] }) });
    assert.equal(cache.originOf(7, 'runc:[2:INIT]')?.cgroup, '/system.slice/containerd.service');
    v2 = `/kubepods/besteffort/pod0f0e0d0c-0b0a-4908-8706-050403020100/${ID}`;
    assert.equal(cache.originOf(7, 'runc:[2:INIT]')?.containerId, undefined, 'the same comm: cached');
    assert.equal(cache.originOf(7, 'python3')?.containerId, ID, 'after the exec: read again');
    assert.equal(cache.originOf(7, 'python3')?.containerId, ID);
    assert.equal(cache.originOf(7)?.containerId, ID, 'no comm: what is known');
    assert.deepEqual(reads, [7, 7]);
  });

  it('reads this process, and a vanished one, from /proc', () => {
    const text = readFileSync('/proc/self/cgroup', 'utf8');
    const expected: ProcessCgroups = { v1: [] };
    for (const line of text.split('\n').filter((x) => x !== '')) {
      const [id, controllers] = line.split(':', 2);
      const path = line.slice(id.length + controllers.length + 2);
      if (id === '0') expected.v2 = path;
      else expected.v1.push({ controllers, path });
    }
    assert.deepEqual(readProcessCgroups(process.pid), expected);
    assert.deepEqual(new OriginCache().originOf(process.pid), originOf(expected));
    assert.equal(new OriginCache().originOf(4_000_000), undefined);
    assert.throws(() => readProcessCgroups(4_000_000), (e: unknown) => {
      assert.ok(e instanceof ProcError);
      assert.equal(e.code, 'EGONE');
      assert.match(e.message, /^cannot read the cgroups of pid 4000000 \(\/proc\/4000000\/cgroup\): ENOENT/);
      return true;
    });
    assert.throws(() => readProcessCgroups(-1), (e: unknown) => e instanceof ProcError && e.code === 'EINVAL');
  });
});
