import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statfsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CGROUP2_SUPER_MAGIC,
  CGROUP_SUPER_MAGIC,
  cgroupExists,
  cgroupLevel,
  cgroupV2Id,
  findCgroup2Mount,
  findCgroupProcesses,
  findContainerProcesses,
  findCgroupV1Mounts,
  OriginCache,
  originOf,
  parseMountinfo,
  readProcessCgroups,
  resolveContainer,
} from '.';

const MOUNTINFO = [
  '22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 master:2 - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/x,name=systemd',
  '41 30 0:38 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '50 22 0:31 / /mnt/second\\040memory rw,relatime - cgroup cgroup rw,memory',
  '60 22 0:28 /docker/abc /mnt/bound rw,relatime - cgroup cgroup rw,cpuset',
  '70 22 0:40 /sub /mnt/bound2 rw,relatime - cgroup2 cgroup2 rw',
  '71 22 0:40 / /tmp/my\\040cg\\011two\\134 rw,relatime - cgroup2 none rw,nsdelegate',
  '72 22 0:40 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  'not a mountinfo line',
  '80 22 0:41 / /x rw - ',
  '',
].join('\n');

describe('lib/proc/cgroup-mounts: mountinfo', () => {
  it('parses mount points with octal escapes and optional fields', () => {
    const mounts = parseMountinfo(MOUNTINFO);
    assert.equal(mounts.length, 11);
    assert.deepEqual(mounts[2], { root: '/', mountPoint: '/sys/fs/cgroup/cpu,cpuacct', fsType: 'cgroup', superOptions: 'rw,cpu,cpuacct' });
    assert.equal(mounts[6].mountPoint, '/mnt/second memory');
    assert.equal(mounts[9].mountPoint, '/tmp/my cg\ttwo\\');
  });

  it('finds the first cgroup2 mount of the hierarchy root, and each v1 controller', () => {
    assert.equal(findCgroup2Mount(MOUNTINFO), '/tmp/my cg\ttwo\\');
    assert.equal(findCgroup2Mount(MOUNTINFO.replace(/^71 .*\n/m, '')), '/sys/fs/cgroup/unified');
    assert.equal(findCgroup2Mount(MOUNTINFO.replace(/^7[12] .*\n/gm, '')), undefined, 'a bind mount of a sub-cgroup is not the hierarchy');
    assert.deepEqual(
      [...findCgroupV1Mounts(MOUNTINFO)],
      [
        ['cpu', '/sys/fs/cgroup/cpu,cpuacct'],
        ['cpuacct', '/sys/fs/cgroup/cpu,cpuacct'],
        ['memory', '/sys/fs/cgroup/memory'],
        ['name=systemd', '/sys/fs/cgroup/systemd'],
        ['pids', '/sys/fs/cgroup/pids'],
      ],
    );
    assert.equal(findCgroupV1Mounts('').size, 0);
  });

  it('knows the mounts of this host', () => {
    const v2 = findCgroup2Mount();
    if (v2 !== undefined) assert.equal(Number(statfsSync(v2).type), CGROUP2_SUPER_MAGIC);
    for (const [controller, mount] of findCgroupV1Mounts()) {
      assert.equal(Number(statfsSync(mount).type), CGROUP_SUPER_MAGIC, `${controller} at ${mount}`);
    }
    const self = readProcessCgroups(process.pid);
    const v1 = findCgroupV1Mounts();
    for (const line of self.v1) {
      if (line.controllers.split(',').some((c) => v1.has(c))) assert.ok(cgroupExists(line.path), `${line.controllers}:${line.path}`);
    }
    if (v2 !== undefined && self.v2 !== undefined) assert.ok(cgroupExists(self.v2));
    assert.equal(cgroupExists('/'), v2 !== undefined || v1.size > 0);
    assert.equal(cgroupExists(`/tf-spec-absent-${randomBytes(8).toString('hex')}`), false);
    assert.equal(cgroupExists('/../../etc'), false);
    assert.equal(cgroupExists('/', ''), false);
  });

  it('cgroupLevel counts components', () => {
    assert.equal(cgroupLevel('/'), 0);
    assert.equal(cgroupLevel('/a'), 1);
    assert.equal(cgroupLevel('/a/b'), 2);
  });
});

const notRoot = process.getuid?.() !== 0 ? 'needs root: mounts cgroup2 and moves a process into a new cgroup' : false;

describe('lib/proc/cgroup-mounts: a real cgroup2 cgroup', { skip: notRoot }, () => {
  const name = `tf-spec-${process.pid}-${randomBytes(4).toString('hex')}`;
  const containerId = randomBytes(32).toString('hex');
  const scope = `docker-${containerId}.scope`;
  let mount = '';
  let mountedDir: string | undefined;
  let scratch: string | undefined;
  let sleeper: ChildProcess | undefined;

  before(async () => {
    const found = findCgroup2Mount();
    if (found !== undefined) {
      mount = found;
    } else {
      mountedDir = mkdtempSync(join(tmpdir(), 'tf-cgroup2-'));
      execFileSync('mount', ['-t', 'cgroup2', 'none', mountedDir]);
      mount = mountedDir;
    }
    mkdirSync(join(mount, name));
    mkdirSync(join(mount, name, scope));
    sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    await once(sleeper, 'spawn');
    writeFileSync(join(mount, name, scope, 'cgroup.procs'), String(sleeper.pid));
    scratch = mkdtempSync(join(tmpdir(), 'tf-cgroup-scratch-'));
  });

  after(async () => {
    const problems: string[] = [];
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    await step('kill the sleep', async () => {
      if (sleeper && sleeper.exitCode === null && sleeper.signalCode === null) {
        const exited = once(sleeper, 'exit');
        sleeper.kill('SIGKILL');
        await exited;
      }
    });
    for (const dir of [join(mount, name, scope), join(mount, name)]) {
      await step(`rmdir ${dir}`, async () => {
        if (mount === '') return;
        // A killed task leaves its cgroup a moment after it is reaped.
        for (let tries = 0; ; tries++) {
          try {
            rmdirSync(dir);
            return;
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') return;
            if (code !== 'EBUSY' || tries >= 50) throw err;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      });
    }
    if (mountedDir !== undefined) {
      const dir = mountedDir;
      await step(`umount ${dir}`, () => execFileSync('umount', [dir]));
      await step(`rmdir ${dir}`, () => rmdirSync(dir));
    }
    if (scratch !== undefined) {
      const dir = scratch;
      await step(`rm ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    }
    assert.deepEqual(problems, [], 'clean-up');
  });

  it('reads the new cgroup of the process and its container id', () => {
    const pid = sleeper?.pid as number;
    const c = readProcessCgroups(pid);
    assert.equal(c.v2, `/${name}/${scope}`);
    assert.equal(readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::')), `0::/${name}/${scope}`);
    assert.deepEqual(originOf(c), { cgroup: `/${name}/${scope}`, containerId });
    assert.deepEqual(new OriginCache().originOf(pid), { cgroup: `/${name}/${scope}`, containerId });
  });

  it('gives the cgroup v2 id (inode) and level, and only through the cgroup2 mount', () => {
    const leaf = cgroupV2Id(`/${name}/${scope}`);
    assert.deepEqual(leaf, { id: statSync(join(mount, name, scope), { bigint: true }).ino, level: 2 });
    assert.deepEqual(cgroupV2Id(`/${name}`), { id: statSync(join(mount, name), { bigint: true }).ino, level: 1 });
    assert.deepEqual(cgroupV2Id('/', mount), { id: 1n, level: 0 }, 'the root cgroup has id 1');
    assert.equal(cgroupV2Id(`/${name}-absent`), undefined);
    assert.equal(cgroupV2Id(`/${name}/${scope}/cgroup.procs`), undefined, 'a file, not a cgroup');
    assert.equal(cgroupV2Id(`/${name}/../${name}`), undefined);
    assert.equal(cgroupV2Id(`/${name}`, `/${name}-no-such-mount`), undefined);
    const dir = scratch as string;
    mkdirSync(join(dir, 'plain'));
    assert.equal(cgroupV2Id('/plain', dir), undefined, 'not on cgroup2');
    symlinkSync(mount, join(dir, 'link'));
    assert.equal(cgroupV2Id(`/link/${name}`, dir), undefined, 'reached through a symbolic link');
  });

  it('finds exactly the process in the cgroup and in the container', () => {
    const pid = sleeper?.pid as number;
    const inCgroup = findCgroupProcesses(`/${name}`);
    assert.deepEqual(inCgroup.processes.map((p) => ({ pid: p.pid, origin: p.origin })), [{ pid, origin: { cgroup: `/${name}/${scope}`, containerId } }]);
    assert.equal(inCgroup.processes[0].cgroups.v2, `/${name}/${scope}`, 'with the cgroups its origin was read from');
    assert.deepEqual(findCgroupProcesses(`/${name}/${scope}`).processes.map((p) => p.pid), [pid]);
    assert.deepEqual(findCgroupProcesses(`/${name}-absent`).processes, []);
    assert.deepEqual(findContainerProcesses(containerId.slice(0, 12)).processes.map((p) => p.pid), [pid]);
    assert.deepEqual(resolveContainer(containerId.slice(0, 12)).ids, [containerId]);
  });

  it('says whether a cgroup exists', () => {
    assert.equal(cgroupExists(`/${name}`), true);
    assert.equal(cgroupExists(`/${name}/${scope}`), true);
    assert.equal(cgroupExists(`/${name}-absent`), false);
    assert.equal(cgroupExists(`/${name}/${scope}/cgroup.procs`), false);
    assert.equal(cgroupExists(`/${name}/`), false, 'not a valid target');
  });
});
