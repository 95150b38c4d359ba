import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { listPids, namespaceId, ProcError, readComm, readExe, readMaps, readProcessCgroups } from '.';

describe('lib/proc', () => {
  it('reads this process: pid, comm, executable, maps, cgroup and namespaces', () => {
    assert.ok(listPids().includes(process.pid));
    assert.equal(readComm(process.pid), readFileSync('/proc/self/comm', 'utf8').trimEnd());
    assert.equal(readExe(process.pid), process.execPath);
    const maps = readMaps(process.pid);
    assert.ok(maps.some((m) => m.path === process.execPath && m.perms.includes('x') && m.startAddr < m.endAddr));
    const cg = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    assert.equal(readProcessCgroups(process.pid).v2, cg?.slice(3));
    assert.equal(`mnt:[${namespaceId(process.pid, 'mnt')}]`, readlinkSync('/proc/self/ns/mnt'));
  });

  it('says which pid and file it could not read, with one error type', () => {
    assert.throws(() => readMaps(4_000_000), (e: unknown) => {
      assert.ok(e instanceof ProcError);
      assert.equal(e.code, 'EGONE');
      assert.match(e.message, /^cannot read the memory maps of pid 4000000 \(\/proc\/4000000\/maps\): ENOENT/);
      return true;
    });
    assert.throws(() => readExe(0), (e: unknown) => e instanceof ProcError && e.code === 'EINVAL');
    assert.equal(readComm(4_000_000), undefined);
  });
});
