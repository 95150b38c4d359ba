// Helpers for the specs: build small C programs, run them, and profile for a while.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { objectPath } from '@tracefleet/bpf';

import { Profiler, type ProfilerOptions, type ProfilerStats, type RawSample } from './index';

export const profileObject = (): string => objectPath('profile');

const TRACEFS_EVENTS = '/sys/kernel/tracing/events';

/**
 * Tracepoint attachment: libbpf reads tracepoint ids from tracefs, which these machines do not mount at
 * boot (the agent mounts it at a run's start, lib/tracefs.ts). Mounts it when missing; fails naming it.
 */
export function ensureTracefs(): void {
  if (!fs.existsSync(TRACEFS_EVENTS)) {
    console.log(`${TRACEFS_EVENTS} missing: mounting tracefs at /sys/kernel/tracing`);
    execFileSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
  }
  if (!fs.existsSync(TRACEFS_EVENTS)) throw new Error(`${TRACEFS_EVENTS} is missing: tracepoints need tracefs mounted`);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tracefleet-${prefix}-`));
}

/** Compiles source with gcc into dir/name and returns the binary's path; libs (-lssl, ...) go after the source. */
export function compileC(dir: string, name: string, source: string, flags: string[], libs: string[] = []): string {
  const src = path.join(dir, `${name}.c`);
  const out = path.join(dir, name);
  fs.writeFileSync(src, source);
  execFileSync('gcc', [...flags, '-o', out, src, ...libs], { stdio: ['ignore', 'inherit', 'inherit'] });
  return out;
}

/** Starts a program that prints "ready" once it is about to do its work; resolves then. */
export function runUntilReady(file: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.once('error', reject);
    // 'close', not 'exit': it comes after stdout was read to the end, so a last "ready" is never missed.
    child.once('close', (code) => reject(new Error(`${file} exited with ${code} before printing ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) {
        child.removeAllListeners('close');
        resolve(child);
      }
    });
  });
}

export function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Profiles for durationMs and returns every delivered sample with the final stats. */
export async function profileFor(
  opts: Omit<ProfilerOptions, 'onSamples' | 'objectPath'>,
  durationMs: number,
): Promise<{ samples: RawSample[]; stats: ProfilerStats; batches: number }> {
  const samples: RawSample[] = [];
  let batches = 0;
  const profiler = new Profiler({
    objectPath: profileObject(),
    ...opts,
    onSamples: (batch) => {
      batches++;
      samples.push(...batch);
    },
  });
  try {
    profiler.start();
    await sleep(durationMs);
    const stats = await profiler.stop();
    return { samples, stats, batches };
  } finally {
    profiler.close();
  }
}

/** A CPU-bound C program: main → work → hot_spin until SIGALRM after argv[1] seconds. */
export const SPINNER_SOURCE = `
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t done;
volatile unsigned long counter;

static void on_alarm(int sig) { (void)sig; done = 1; }

/* The counter lives on the stack on purpose: gcc 12 drops the frame pointer of a leaf that
 * uses no stack even with -fno-omit-frame-pointer, and a frame-pointer walk from such a
 * leaf skips its caller (work). */
__attribute__((noinline)) void hot_spin(void) {
  volatile unsigned long local = 0;
  while (!done) local++;
  counter += local;
}

__attribute__((noinline)) void work(void) {
  hot_spin();
  counter++;
}

int main(int argc, char **argv) {
  signal(SIGALRM, on_alarm);
  alarm(argc > 1 ? atoi(argv[1]) : 3);
  printf("ready\\n");
  fflush(stdout);
  work();
  return 0;
}
`;

/** A tracer the specs drive: started, then stopped for its final stats, then closed. */
interface SpecTracer<S> {
  start(): void;
  stop(): Promise<S>;
  close(): void;
}

/** Traces while `during` runs, then stops and closes; returns every event with the final stats. */
export async function traceWhileWith<E, S, T extends SpecTracer<S>>(
  make: (onEvents: (batch: E[]) => void) => T,
  during: (tracer: T) => Promise<void>,
): Promise<{ events: E[]; stats: S }> {
  const events: E[] = [];
  const tracer = make((batch) => events.push(...batch));
  try {
    tracer.start();
    await during(tracer);
    const stats = await tracer.stop();
    return { events, stats };
  } finally {
    tracer.close();
  }
}
