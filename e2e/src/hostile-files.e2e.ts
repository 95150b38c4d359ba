/**
 * Files a job or a traced process names, turned against the root agent: a FIFO, a device, a
 * directory, a socket as a usdt listing's binary; a process mapping /dev/zero executable; a perf map
 * of another owner; a perf map far over the size limit made of one endless line. Each is refused
 * with its reason, fast, and the node stays connected and heartbeating.
 * (Never a watchdog or other hardware device here: opening one can reboot the machine.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import { FIXTURES, buildC, parseFolded, startStack, waitFor, waitJob, type Stack } from './harness';
import { launchCollecting, type Launched } from './processes';

const NOBODY = 65534;
const PYTHON = '/usr/bin/python3.11';

describe('hostile files: the agent opens regular files only, bounded', () => {
  let stack: Stack;
  let dir: string;
  let server: net.Server;
  let execZeroBin: string;
  const children: ChildProcess[] = [];

  before(async () => {
    if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: npm run setup installs python3.11`);
    execZeroBin = buildC('exec_zero');
    dir = fs.mkdtempSync(join(os.tmpdir(), 'tracefleet-hostile-'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
    fs.symlinkSync('/dev/zero', join(dir, 'link-to-zero'));
    stack = await startStack();
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.stop();
    server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const launch = (cmd: string, args: string[]): Launched => launchCollecting(children, cmd, args);

  const node = async (): Promise<{ connected: boolean; lastSeenAt: string }> => {
    const res = await stack.api('GET', `/nodes/${stack.nodeName}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };

  /** Resolves once the node's heartbeat (lastSeenAt) moved past `since` at least `times` times. */
  async function heartbeatsAdvance(times: number): Promise<void> {
    let last = (await node()).lastSeenAt;
    let seen = 0;
    await waitFor(async () => {
      const n = await node();
      assert.equal(n.connected, true, 'the node stays connected');
      if (n.lastSeenAt !== last) {
        seen++;
        last = n.lastSeenAt;
      }
      return seen >= times;
    }, 15_000, `${times} heartbeats of ${stack.nodeName}`);
  }

  it('answers a usdt listing of a FIFO, a device, a directory or a socket with 422 and the reason within a second', async () => {
    const cases: [string, string][] = [
      [join(dir, 'fifo'), 'FIFO'],
      ['/dev/null', 'character device'],
      ['/dev/zero', 'character device'],
      [join(dir, 'link-to-zero'), 'character device'],
      [dir, 'directory'],
      [join(dir, 'sock'), 'socket'],
    ];
    for (const [path, kind] of cases) {
      const started = Date.now();
      const res = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=${encodeURIComponent(path)}`);
      const took = Date.now() - started;
      assert.ok(res.status === 400 || res.status === 422, `${path} → ${res.status} ${res.text}`);
      assert.match(JSON.stringify(res.json.message), new RegExp(`not a regular file \\(${kind}\\)`), path);
      assert.ok(took < 1000, `${path} took ${took} ms`);
    }
    // A short regular file that is not ELF: refused, and its size is not told.
    const short = join(dir, 'short');
    fs.writeFileSync(short, 'abc');
    const res = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=${encodeURIComponent(short)}`);
    assert.equal(res.status, 422, res.text);
    assert.match(res.text, /not an ELF file/);
    assert.doesNotMatch(res.text, /\b3 bytes\b/);

    // The FIFO was never opened for reading: a non-blocking writer finds no reader.
    assert.throws(() => fs.openSync(join(dir, 'fifo'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), /ENXIO/);
    await heartbeatsAdvance(2);
    const ok = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?binary=${PYTHON}`);
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.json.probes.some((p: { provider: string; name: string }) => p.provider === 'python' && p.name === 'gc__start'), ok.text.slice(0, 500));
  });

  it('lists and profiles a process that maps /dev/zero executable, skipping (and counting) that mapping', async () => {
    const prog = launch(execZeroBin, ['8']);
    await waitFor(async () => prog.output().includes('ready'), 10_000, 'exec_zero to map /dev/zero');
    assert.match(fs.readFileSync(`/proc/${prog.pid}/maps`, 'utf8'), /r-x[ps] .* \/dev\/zero/);

    const started = Date.now();
    const listing = await stack.api('GET', `/nodes/${stack.nodeName}/usdt?pid=${prog.pid}`);
    assert.equal(listing.status, 200, listing.text);
    assert.ok(Date.now() - started < 1000, `listing took ${Date.now() - started} ms`);

    const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 3, target: { pid: prog.pid }, nodes: { names: [stack.nodeName] } });
    assert.equal(created.status, 201, created.text);
    const job = await waitJob(stack, created.json.id, 30_000);
    prog.kill('SIGKILL');
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.match(job.runs[0].reason ?? '', /executable mapping\(s\) refused/, JSON.stringify(job.runs[0]));
    assert.match(job.runs[0].reason ?? '', /\/dev\/zero executable: not a regular file \(character device\)/);
    const folded = parseFolded((await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`)).text);
    assert.ok(folded.some((s) => s.frames.includes('spin')), 'the program\'s own code still resolves');
    assert.equal((await node()).connected, true);
  });

  it('takes no names from a perf map owned by another user, and says so on the run', async () => {
    const burner = launch(process.execPath, ['--perf-basic-prof', join(FIXTURES, 'burn.js'), '0']);
    const map = `/tmp/perf-${burner.pid}.map`;
    try {
      await waitFor(async () => fs.existsSync(map) && fs.readFileSync(map, 'utf8').includes('tracefleetBurnCpuInJs'), 10_000, 'node to write its perf map');
      fs.chownSync(map, NOBODY, NOBODY); // node (root) keeps appending through its open descriptor
      const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 3, target: { pid: burner.pid }, nodes: 'all' });
      assert.equal(created.status, 201, created.text);
      const job = await waitJob(stack, created.json.id, 30_000);
      assert.equal(job.status, 'completed', JSON.stringify(job));
      const run = job.runs[0];
      assert.match(run.reason ?? '', /1 perf map\(s\) and 0 executable mapping\(s\) refused/, JSON.stringify(run));
      assert.match(run.reason ?? '', new RegExp(`${map}: owned by uid ${NOBODY}, not by the process \\(uid 0\\) or root`));
      const folded = await stack.api('GET', `/jobs/${job.id}/flamegraph.folded`);
      const stacks = parseFolded(folded.text);
      assert.ok(stacks.reduce((a, s) => a + s.count, 0) > 0, 'samples were taken');
      assert.ok(!stacks.some((s) => s.frames.some((f) => f.endsWith('_[j]'))), `JIT names came from a refused map:\n${folded.text.slice(0, 1500)}`);
    } finally {
      burner.kill('SIGKILL');
      fs.rmSync(map, { force: true });
    }
  });

  it('reads a 256 MiB perf map of one endless line only up to the limit, in pieces, heartbeating all along, never whole in memory', async () => {
    const burner = launch(process.execPath, ['--perf-basic-prof', join(FIXTURES, 'burn.js'), '0']);
    const map = `/tmp/perf-${burner.pid}.map`;
    try {
      await waitFor(async () => fs.existsSync(map), 10_000, 'node to write its perf map');
      // A sparse file: 256 MiB of zero bytes, no newline, no disk taken. Put in place of node's own
      // map (node keeps writing to the old inode).
      const big = `${map}.big`;
      fs.writeFileSync(big, '');
      fs.truncateSync(big, 256 * 1024 * 1024);
      fs.renameSync(big, map);
      const created = await stack.api('POST', '/jobs', { type: 'cpu-profile', durationSec: 8, target: { pid: burner.pid }, nodes: { names: [stack.nodeName] } });
      assert.equal(created.status, 201, created.text);
      await heartbeatsAdvance(3);
      const during = (await stack.api('GET', `/jobs/${created.json.id}`)).json;
      assert.ok(!['completed', 'partial', 'failed'].includes(during.status), `the heartbeats came during the job: ${during.status}`);
      const job = await waitJob(stack, created.json.id, 30_000);
      // Never read whole: reading it into one string took the agent to ~515 MB before.
      const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${stack.agent!.pid}/status`, 'utf8'))![1]);
      console.log(`agent peak RSS ${Math.round(peakKiB / 1024)} MiB`);
      assert.ok(peakKiB < 300 * 1024, `agent peak RSS ${peakKiB} kB`);
      assert.equal(job.status, 'completed', JSON.stringify(job));
      const run = job.runs[0];
      assert.match(run.reason ?? '', /1 perf map line\(s\) longer than 8 KiB skipped/, JSON.stringify(run));
      assert.match(run.reason ?? '', new RegExp(`${192 * 1024 * 1024} bytes of perf maps beyond the size limit`));
      assert.ok(run.samplesStored > 0, JSON.stringify(run));
      assert.equal((await node()).connected, true);
    } finally {
      burner.kill('SIGKILL');
      fs.rmSync(map, { force: true });
    }
  });
});
