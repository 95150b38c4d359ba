// Files in a traced process's own mount namespace: a JIT's perf map in a container's private /tmp, named by
// the pid the process has in its own pid namespace, read through /proc/PID/root with every path component
// resolved inside that root (a symbolic link there never reaches the agent's own files). Real namespaces
// (unshare, as root), real tmpfs.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';

import { perfMapReader, safeOpenCheck } from './index';
import { tempDir } from './spec-support';

const MiB = 1024 * 1024;

/** The pid (as the host sees it) of the child `unshare --fork` started, once its command runs. */
async function childOf(outer: ChildProcess, comm: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const children = fs.readFileSync(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    const pid = Number(children[0] ?? 0);
    if (pid > 0 && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return pid;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no ${comm} under unshare (pid ${outer.pid})`);
}

describe('files of a process in its own namespaces', { timeout: 30_000 }, () => {
  const dir = tempDir('namespaces');
  const started: ChildProcess[] = [];
  after(() => {
    for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a path resolved inside a root stays inside it: absolute links and .. do not reach the agent\'s files', () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc', 'inside'), 'x');
    fs.symlinkSync('/etc', path.join(root, 'tmp'));
    assert.equal(safeOpenCheck(path.join(root, 'tmp', 'passwd')).ok, true, 'the plain path follows the link to the host /etc');
    assert.deepEqual(safeOpenCheck('tmp/passwd', undefined, root), { ok: false, error: 'No such file or directory' });
    assert.deepEqual(safeOpenCheck('../../../../etc/passwd', undefined, root), { ok: false, error: 'No such file or directory' });
    assert.deepEqual(safeOpenCheck('tmp/inside', undefined, root), { ok: true, size: 1 }, "/etc inside the root is the root's own");
    assert.deepEqual(safeOpenCheck('/proc/self/root/etc/passwd', undefined, root).ok, false, 'no /proc magic links');
  });

  test("reads a JIT's map in a private /tmp under its namespaced pid, through /proc/PID/root", async () => {
    const script = 'mount -t tmpfs tmpfs /tmp && printf "1000 10 fn_in_the_container\\n" > /tmp/perf-1.map && exec sleep 30';
    const outer = spawn('unshare', ['--pid', '--mount', '--fork', '--kill-child', 'sh', '-c', script], { stdio: 'ignore' });
    started.push(outer);
    const pid = await childOf(outer, 'sleep');
    assert.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^NSpid:\s+\d+\s+1$/m);
    assert.equal(fs.existsSync('/tmp/perf-1.map') && fs.readFileSync('/tmp/perf-1.map', 'utf8').includes('fn_in_the_container'), false, 'not in the host /tmp');
    const r = perfMapReader(pid, '', 64 * MiB);
    assert.equal(r.refresh(), true, JSON.stringify(r.stats()));
    assert.equal(r.stats().path, `/proc/${pid}/root/tmp/perf-1.map`);
    assert.equal(r.find(0x1004n), 'fn_in_the_container');
    outer.kill('SIGKILL');
  });

  test("a process in the agent's mount namespace is read at /tmp/perf-<its pid>.map, as before", () => {
    const r = perfMapReader(process.pid, '', 64 * MiB);
    assert.equal(r.stats().path, `/tmp/perf-${process.pid}.map`);
    assert.equal(r.refresh(), true, 'no map: nothing refused');
  });

  test('unshare is there (util-linux): this spec needs it', () => {
    assert.equal(spawnSync('unshare', ['--version']).status, 0);
  });
});
