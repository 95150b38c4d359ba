/**
 * HotSpot's attach mechanism, client side, in the agent itself: what `jcmd <pid> <command>` does, without
 * starting a JVM for jcmd (~0.5 s of CPU each time) and for a JVM in a container, whose /tmp and pid are
 * its own.
 *
 * The JVM listens on the UNIX socket /tmp/.java_pid<pid> (its own /tmp, its own pid), created on demand:
 * a client makes a file .attach_pid<pid> in the JVM's working directory and sends SIGQUIT, which a JVM
 * that sees the file answers by starting its attach listener instead of printing a thread dump. The
 * request is "1\0" (protocol version), the command name, three arguments, each NUL-terminated; the answer
 * is a result code line, then the command's output, then the JVM closes the connection. The JVM accepts
 * a client of its own effective uid or root (the agent).
 *
 * What the agent touches is the process's to choose, so: SIGQUIT goes only to a process that maps
 * libjvm.so and has a SIGQUIT handler installed (/proc/PID/status SigCgt; a JVM too young to have one
 * would die of it, as would a process that only pretends); the trigger file is created through the
 * /proc/PID/cwd magic link (the directory itself, whatever its path says) with O_EXCL|O_NOFOLLOW and
 * removed again; the socket is reached through /proc/PID/root only when its /tmp is a real directory,
 * not a symbolic link; answers are read up to a bound and within a deadline.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { procPath } from '../../lib/proc';

/** Bytes of a command's answer read at most (Compiler.perfmap answers with nothing: the map goes to a file). */
const MAX_ANSWER = 64 * 1024;
const SIGQUIT_BIT = 1n << 2n; // signal 3

export class AttachError extends Error {}

/** The pid a process has in its own (innermost) pid namespace: the one its /tmp files are named by. */
export function namespacedPid(pid: number): number {
  const status = fs.readFileSync(procPath(pid, 'status'), 'utf8');
  const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
  const last = m?.[1].trim().split(/\s+/).pop();
  const n = Number(last ?? pid);
  if (!Number.isInteger(n) || n <= 0) throw new AttachError(`pid ${pid}: unreadable NSpid`);
  return n;
}

/** The process maps HotSpot's libjvm.so: a JVM this client can talk to. */
export function isHotSpot(pid: number): boolean {
  try {
    return /\/libjvm\.so$/m.test(fs.readFileSync(procPath(pid, 'maps'), 'utf8'));
  } catch {
    return false;
  }
}

function catchesSigquit(pid: number): boolean {
  const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(procPath(pid, 'status'), 'utf8'));
  return m !== null && (BigInt(`0x${m[1]}`) & SIGQUIT_BIT) !== 0n;
}

/** /proc/PID/root/tmp/.java_pid<nspid>, when the process's /tmp is a directory of its own (not a link). */
function socketPath(pid: number, nspid: number): string | undefined {
  const tmp = procPath(pid, 'root/tmp');
  const st = fs.lstatSync(tmp, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new AttachError(`pid ${pid}: its /tmp is not a directory (a link or missing); not attaching`);
  const path = `${tmp}/.java_pid${nspid}`;
  const sock = fs.lstatSync(path, { throwIfNoEntry: false });
  return sock?.isSocket() ? path : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the JVM's attach listener (see the file comment); resolves with its socket's path. */
async function startListener(pid: number, nspid: number, deadline: number): Promise<string> {
  if (!catchesSigquit(pid)) throw new AttachError(`pid ${pid}: no SIGQUIT handler (not a running HotSpot JVM, or started with -Xrs); not signalled`);
  const trigger = procPath(pid, `cwd/.attach_pid${nspid}`);
  let fd: number;
  try {
    fd = fs.openSync(trigger, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw new AttachError(`pid ${pid}: cannot create the attach trigger in its working directory (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  fs.closeSync(fd);
  try {
    process.kill(pid, 'SIGQUIT');
    for (let wait = 20; Date.now() < deadline; wait = Math.min(wait * 2, 200)) {
      const path = socketPath(pid, nspid);
      if (path) return path;
      await sleep(wait);
    }
  } finally {
    fs.rmSync(trigger, { force: true });
  }
  throw new AttachError(`pid ${pid}: the JVM did not open its attach socket (attach disabled with -XX:+DisableAttachMechanism?)`);
}

/** @internal exported for its spec */
export function request(path: string, command: string, args: string[], deadline: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const sock = net.createConnection(path);
    const timer = setTimeout(() => sock.destroy(new AttachError('no answer in time')), Math.max(deadline - Date.now(), 1));
    sock.on('connect', () => {
      const parts = ['1', command, ...[...args, '', '', ''].slice(0, 3)];
      sock.end(Buffer.concat(parts.map((p) => Buffer.from(`${p}\0`, 'utf8'))));
    });
    sock.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_ANSWER) return sock.destroy(new AttachError(`answer longer than ${MAX_ANSWER} bytes`));
      chunks.push(d);
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof AttachError ? err : new AttachError(err.message));
    });
    sock.on('close', (hadError) => {
      clearTimeout(timer);
      if (hadError) return;
      const text = Buffer.concat(chunks).toString('utf8');
      // A result code line first; an empty answer (the peer closed without one) is no answer.
      const m = /^(-?\d{1,9})(?:\n|$)/.exec(text);
      if (!m) return reject(new AttachError(`not an attach answer: ${JSON.stringify(text.slice(0, 80))}`));
      resolve({ code: Number(m[1]), output: text.slice(m[0].length) });
    });
  });
}

/**
 * Runs a jcmd command (e.g. 'Compiler.perfmap') in the HotSpot JVM `pid`; resolves with its output,
 * rejects with an AttachError that says why not.
 */
export async function jcmd(pid: number, command: string, timeoutMs = 5000): Promise<string> {
  if (!isHotSpot(pid)) throw new AttachError(`pid ${pid} is not a HotSpot JVM (no libjvm.so mapped)`);
  const deadline = Date.now() + timeoutMs;
  const nspid = namespacedPid(pid);
  const path = socketPath(pid, nspid) ?? (await startListener(pid, nspid, deadline));
  const { code, output } = await request(path, 'jcmd', [command], deadline);
  // jcmd's own errors come with code 0 and a message ("Unknown diagnostic command"), others with their code.
  if (code !== 0 || /^(Unknown diagnostic command|java\.lang\.\w+Exception)/m.test(output)) {
    throw new AttachError(`pid ${pid}: ${command} failed (${code}): ${output.trim().slice(0, 300)}`);
  }
  return output;
}
