// Helpers for usdt.spec.ts: the USDT demo program, target processes that wait to be told to
// fire, and a tracer run that collects every event.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { objectPath } from '@tracefleet/bpf';

import { UsdtTracer, type UsdtRawEvent, type UsdtStats, type UsdtTracerOptions } from './index';
import { traceWhileWith } from './spec-support';

export const usdtObject = (): string => objectPath('usdt');

/** Fails naming the Debian package when a file a test needs is missing. */
export function requireFile(file: string, what: string): string {
  assert.ok(fs.existsSync(file), `${file} is missing: ${what}`);
  return file;
}

/**
 * Waits for SIGUSR1, then fires tfdemo:tick(i, 1000 + i) N times, tfdemo:guarded(i, -i) N times
 * when its semaphore is set, and tfdemo:name(pointer, length) once per NAMES entry; then prints
 * what it fired and exits.
 */
export const TFDEMO_SOURCE = `
#define _SDT_HAS_SEMAPHORES 1
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <unistd.h>

/* With _SDT_HAS_SEMAPHORES every probe's note names a semaphore; only guarded checks its own. */
unsigned short tfdemo_tick_semaphore __attribute__((unused)) __attribute__((section(".probes")));
unsigned short tfdemo_guarded_semaphore __attribute__((unused)) __attribute__((section(".probes")));
unsigned short tfdemo_name_semaphore __attribute__((unused)) __attribute__((section(".probes")));
#define TFDEMO_GUARDED_ENABLED() __builtin_expect(tfdemo_guarded_semaphore, 0)

/* name passes (pointer, length) into TEXT: the bytes after length must not be read. */
static const char TEXT[] = "alpha|beta-gamma|0123456789012345678901234567890123456789012345678901234567890123456789";
static const struct { int offset, length; } NAMES[] = {{0, 5}, {6, 10}, {17, 70}, {0, 0}, {6, 4}};

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 5000;
  sigset_t set;
  int sig, guarded = 0;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, NULL);
  printf("ready\\n");
  fflush(stdout);
  sigwait(&set, &sig);

  for (int i = 0; i < n; i++) {
    long big = 1000L + i;
    STAP_PROBE2(tfdemo, tick, i, big);
    if (TFDEMO_GUARDED_ENABLED()) {
      STAP_PROBE2(tfdemo, guarded, i, -(long)i);
      guarded++;
    }
    /* A breather now and then, so a 4 MiB ring buffer never fills: the tests want every event. */
    if (i % 500 == 499) usleep(2000);
  }
  for (unsigned k = 0; k < sizeof(NAMES) / sizeof(NAMES[0]); k++) {
    const char *p = TEXT + NAMES[k].offset;
    int len = NAMES[k].length;
    STAP_PROBE2(tfdemo, name, p, len);
  }
  printf("fired tick=%d guarded=%d name=%zu\\n", n, guarded, sizeof(NAMES) / sizeof(NAMES[0]));
  fflush(stdout);
  return 0;
}
`;

/** What tfdemo:name reads for each NAMES entry: at most 63 bytes, never past the length. */
export const TFDEMO_NAMES: Array<{ str: string; length: bigint }> = [
  { str: 'alpha', length: 5n },
  { str: 'beta-gamma', length: 10n },
  { str: '012345678901234567890123456789012345678901234567890123456789012', length: 70n },
  { str: '', length: 0n },
  { str: 'beta', length: 4n },
];

/** Python 3.11 waits for SIGUSR1, collects K times, says so and waits for SIGUSR1 again. */
export const PYTHON_GC_SCRIPT = `
import gc, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print('ready', flush=True)
signal.sigwait({signal.SIGUSR1})
for _ in range(int(sys.argv[1])):
    gc.collect()
print('collected', flush=True)
signal.sigwait({signal.SIGUSR1})
`;

/** A JVM that waits for a line on stdin, calls System.gc() K times, says so and waits for another line. */
export const JAVA_GC_SOURCE = `
public class GcLoop {
  public static void main(String[] args) throws Exception {
    int k = Integer.parseInt(args[0]);
    // Whole lines: System.in.read() took one byte of the "go" line, so the second read found "o" at once, the JVM
    // exited, and the test's last write met a closed pipe (EPIPE) when it lost that race.
    java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
    System.out.println("ready");
    System.out.flush();
    in.readLine();
    for (int i = 0; i < k; i++) System.gc();
    System.out.println("collected");
    System.out.flush();
    in.readLine();
  }
}
`;

/** A process whose stdout the test watches for the lines that say where it is. */
export class Target {
  readonly child: ChildProcess;
  #out = '';
  #waiters: Array<() => void> = [];
  #stdoutEnded = false;
  readonly exited: Promise<number | null>;

  constructor(file: string, args: string[], opts: { stdin?: boolean } = {}) {
    this.child = spawn(file, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.#out += chunk.toString();
      for (const wake of this.#waiters.splice(0)) wake();
    });
    // 'exit' can come before the last stdout chunk is read; 'end' says everything written was read.
    this.child.stdout!.once('end', () => {
      this.#stdoutEnded = true;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', (code) => {
        for (const wake of this.#waiters.splice(0)) wake();
        resolve(code);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get output(): string {
    return this.#out;
  }

  /** Resolves once stdout holds text; rejects if the process exits first or after timeoutMs. */
  async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#out.includes(text)) {
      // Gone, and its stdout read to the end: the text can no longer come.
      if ((this.child.exitCode !== null || this.child.signalCode !== null) && this.#stdoutEnded) {
        throw new Error(`${this.child.spawnfile} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${JSON.stringify(text)}; stdout: ${JSON.stringify(this.#out)}`);
      }
      if (Date.now() > deadline) throw new Error(`${this.child.spawnfile} did not print ${JSON.stringify(text)} within ${timeoutMs} ms; stdout: ${JSON.stringify(this.#out)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Traces while `during` runs, then stops and closes; returns every event with the final stats. */
export function traceWhile(
  opts: Omit<UsdtTracerOptions, 'onEvents' | 'objectPath'>,
  during: (tracer: UsdtTracer) => Promise<void>,
): Promise<{ events: UsdtRawEvent[]; stats: UsdtStats }> {
  return traceWhileWith<UsdtRawEvent, UsdtStats, UsdtTracer>((onEvents) => new UsdtTracer({ objectPath: usdtObject(), ...opts, onEvents }), during);
}

/** BPF and perf fds this process holds, by kind. */
export function ownBpfFds(): Map<string, number> {
  const kinds = /^anon_inode:(bpf[-_]link|bpf-prog|bpf-map|btf|\[perf_event\]|\[eventpoll\])$/;
  const counts = new Map<string, number>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(path.join('/proc/self/fd', fd));
    } catch {
      continue; // the directory's own fd, closed by now
    }
    if (kinds.test(target)) counts.set(target, (counts.get(target) ?? 0) + 1);
  }
  return counts;
}
