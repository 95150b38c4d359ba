// Helpers for memleak.spec.ts: a C program with known leaks, and a traced run of it that
// reports what the snapshot holds per allocating function.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { objectPath } from '@tracefleet/bpf';

import { MemleakTracer, Symbolizer, type MemleakOptions, type MemleakSnapshot } from './index';
import { Target } from './usdt-spec-support';

export const memleakObject = (): string => objectPath('memleak');

export const K = 100;
export const S = 4096;
/** Bytes each leaking function leaves per call (realloc_leak: only its final size). */
export const LEAK_SIZES = { leak_here: S, calloc_leak: 8 * 100, realloc_leak: 3000, memalign_leak: 2000, aligned_leak: 1024 } as const;
export type LeakSite = keyof typeof LEAK_SIZES;

/**
 * argv: <go file> <finish file> <N>. Pins itself to CPU 0, says "ready", waits for the go file; then
 * churn(N) (N malloc/free pairs, timed), K leaks from each of leak_here (main → serve → leak_here,
 * malloc(S)), calloc_leak, realloc_leak (malloc 1000 → realloc 2000 → realloc 3000), memalign_leak
 * (posix_memalign) and aligned_leak (aligned_alloc), then 1000 more pairs; says "leaked churn_ns=...",
 * waits for the finish file, churns N/10 more pairs and exits 0.
 */
export const LEAKY_SOURCE = `
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K ${K}
#define S ${S}

void *volatile last; /* a pointer that escapes: gcc may not pair a malloc with its free away */
static void *kept[5 * K];
static int nkept;

static int wait_for(const char *path) {
  for (int i = 0; i < 6000; i++) {
    if (access(path, F_OK) == 0) return 0;
    usleep(10000);
  }
  return -1;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void churn(int n) {
  for (int i = 0; i < n; i++) {
    char *p = malloc(32 + (i & 63));
    p[0] = (char)i;
    last = p;
    free(p);
  }
}

__attribute__((noinline)) void *leak_here(void) {
  char *p = malloc(S);
  memset(p, 1, S);
  return p;
}

__attribute__((noinline)) void serve(void) {
  for (int i = 0; i < K; i++) kept[nkept++] = leak_here();
}

__attribute__((noinline)) void *calloc_leak(void) { return calloc(8, 100); }

__attribute__((noinline)) void *realloc_leak(void) {
  char *p = malloc(1000);
  p[0] = 1;
  p = realloc(p, 2000);
  p[1] = 2;
  p = realloc(p, 3000);
  return p;
}

__attribute__((noinline)) void *memalign_leak(void) {
  void *p = NULL;
  if (posix_memalign(&p, 64, 2000) != 0) abort();
  return p;
}

__attribute__((noinline)) void *aligned_leak(void) { return aligned_alloc(64, 1024); }

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int n = atoi(argv[3]);
  /* One CPU: the per-CPU sampler then sees this process's allocations as one sequence. */
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(0, &cpus);
  if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0) return 4;
  printf("ready\\n");
  fflush(stdout);
  if (wait_for(argv[1])) return 3;
  long long t0 = now_ns();
  churn(n);
  long long t1 = now_ns();
  serve();
  for (int i = 0; i < K; i++) kept[nkept++] = calloc_leak();
  for (int i = 0; i < K; i++) kept[nkept++] = realloc_leak();
  for (int i = 0; i < K; i++) kept[nkept++] = memalign_leak();
  for (int i = 0; i < K; i++) kept[nkept++] = aligned_leak();
  churn(1000);
  printf("leaked churn_ns=%lld\\n", t1 - t0);
  fflush(stdout);
  if (wait_for(argv[2])) return 3;
  churn(n / 10);
  printf("done kept=%d\\n", nkept);
  return 0;
}
`;

/**
 * argv: <go file> <finish file>. After the go file: 3 leaks of 1 MiB from big_leak (glibc serves them with
 * mmap inside malloc), 3 malloc/free pairs of 1 MiB, and a thread that leaks 10 × 100 bytes from thread_leak
 * (its first malloc makes glibc reserve a 64 MiB arena with a PROT_NONE mmap). Says "leaked", waits for the
 * finish file, exits 0.
 */
export const BIG_SOURCE = `
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *volatile keep[64];

__attribute__((noinline)) void *big_leak(void) { return malloc(1 << 20); }
__attribute__((noinline)) void big_churn(void) { void *p = malloc(1 << 20); keep[63] = p; free(p); }
__attribute__((noinline)) void *thread_leak(void) { return malloc(100); }
static void *worker(void *arg) {
  for (int i = 0; i < 10; i++) keep[10 + i] = thread_leak();
  return arg;
}

static void wait_for(const char *path) {
  for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) usleep(10000);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  pthread_t thread;
  printf("ready\\n");
  fflush(stdout);
  wait_for(argv[1]);
  for (int i = 0; i < 3; i++) keep[i] = big_leak();
  for (int i = 0; i < 3; i++) big_churn();
  if (pthread_create(&thread, NULL, worker, NULL) != 0 || pthread_join(thread, NULL) != 0) return 4;
  printf("leaked\\n");
  fflush(stdout);
  wait_for(argv[2]);
  return 0;
}
`;

/** A snapshot's groups merged by the function that made the allocation (the leaf of the user stack). */
export interface SiteTotals {
  bytes: bigint;
  count: number;
  groups: number;
  /** Names of the first frames of one group, leaf first. */
  frames: string[];
}

export function bySite(snapshot: MemleakSnapshot, pid: number, symbolizer: Symbolizer): Map<string, SiteTotals> {
  const sites = new Map<string, SiteTotals>();
  for (const stack of snapshot.stacks) {
    const frames = stack.userStack.length ? symbolizer.symbolizeUser(pid, stack.userStack) : [`<no stack: ${stack.stackId}>`];
    const site = sites.get(frames[0]) ?? { bytes: 0n, count: 0, groups: 0, frames: frames.slice(0, 4) };
    site.bytes += stack.bytes;
    site.count += stack.count;
    site.groups++;
    sites.set(frames[0], site);
  }
  return sites;
}

export interface LeakyRun {
  pid: number;
  snapshot: MemleakSnapshot;
  /** Taken after stop(): the maps stay readable. */
  afterStop: MemleakSnapshot;
  /** snapshot(60 s): nothing in the run is that old. */
  minuteOld: MemleakSnapshot;
  sites: Map<string, SiteTotals>;
  /** Time the first churn(N) took in the target. */
  churnNs: number;
  output: string;
}

/** Runs the program's source once without tracing; returns how long churn(n) took. */
export async function untracedChurnNs(binary: string, dir: string, n: number): Promise<number> {
  const go = path.join(dir, `go-${Date.now()}-untraced`);
  const finish = `${go}-finish`;
  const target = new Target(binary, [go, finish, String(n)]);
  try {
    await target.waitFor('ready');
    fs.writeFileSync(go, '');
    await target.waitFor('leaked', 60_000);
    fs.writeFileSync(finish, '');
    assert.equal(await target.exited, 0);
    return churnNs(target.output);
  } finally {
    target.kill();
  }
}

function churnNs(output: string): number {
  const match = output.match(/churn_ns=(\d+)/);
  assert.ok(match, `no churn_ns in ${JSON.stringify(output)}`);
  return Number(match[1]);
}

let runs = 0;

/**
 * Starts the program, traces it from before its first allocation to its "leaked" line, snapshots,
 * stops, snapshots again, lets it finish and checks it exited 0.
 */
export async function traceLeaky(
  binary: string,
  dir: string,
  n: number,
  opts: Omit<MemleakOptions, 'objectPath' | 'mode' | 'pid'>,
): Promise<LeakyRun> {
  const go = path.join(dir, `go-${++runs}`);
  const finish = `${go}-finish`;
  const target = new Target(binary, [go, finish, String(n)]);
  const symbolizer = new Symbolizer();
  let tracer: MemleakTracer | undefined;
  try {
    await target.waitFor('ready');
    tracer = new MemleakTracer({ objectPath: memleakObject(), mode: 'user', pid: target.pid, ...opts });
    tracer.start();
    fs.writeFileSync(go, '');
    await target.waitFor('leaked', 120_000);
    const snapshot = tracer.snapshot();
    const sites = bySite(snapshot, target.pid, symbolizer);
    tracer.stop();
    const afterStop = tracer.snapshot();
    const minuteOld = tracer.snapshot(60_000_000_000n);
    fs.writeFileSync(finish, '');
    assert.equal(await target.exited, 0, `the target failed after stop(): ${target.output}`);
    assert.match(target.output, /done kept=500/);
    return { pid: target.pid, snapshot, afterStop, minuteOld, sites, churnNs: churnNs(target.output), output: target.output };
  } finally {
    tracer?.close();
    symbolizer.close();
    target.kill();
  }
}

/** The sizes the program asks for between go and "leaked", in call order. */
export function allocationSizes(n: number): number[] {
  const sizes: number[] = [];
  const churn = (count: number): void => {
    for (let i = 0; i < count; i++) sizes.push(32 + (i & 63));
  };
  churn(n);
  for (let i = 0; i < K; i++) sizes.push(S);
  for (let i = 0; i < K; i++) sizes.push(8 * 100);
  for (let i = 0; i < K; i++) sizes.push(1000, 2000, 3000);
  for (let i = 0; i < K; i++) sizes.push(2000);
  for (let i = 0; i < K; i++) sizes.push(1024);
  churn(1000);
  return sizes;
}

/** What a run says per leaking site, for comparing runs and printing. */
export function leakSummary(run: LeakyRun): Record<string, { bytes: bigint; count: number }> {
  const summary: Record<string, { bytes: bigint; count: number }> = {};
  for (const site of Object.keys(LEAK_SIZES)) {
    const totals = run.sites.get(site);
    summary[site] = { bytes: totals?.bytes ?? 0n, count: totals?.count ?? 0 };
  }
  return summary;
}
