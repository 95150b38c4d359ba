// CPU-bound workload for the unwinding benchmarks: cpu_bound.c's unit of work behind three call
// levels, built -O2 -fomit-frame-pointer so that only .eh_frame can walk its stacks
// (main -> tf_level1 -> tf_level2 -> tf_level3 -> unit_of_work). Runs for SECONDS and prints how
// many fixed-size work units it completed, and the CPU seconds it was given (CLOCK_PROCESS_CPUTIME_ID:
// without IRQ time accounting this includes the interrupts taken while it ran, profilers' samples too).
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// noipa: no inlining, cloning or merging, so the frames and their names stay what the bench looks for.
#define TF_FRAME __attribute__((noinline, noipa))

// Results go to a volatile sink after each call: no call becomes a tail jump (its caller's frame would vanish).
static volatile unsigned long sink;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

TF_FRAME unsigned long unit_of_work(unsigned long seed) {
  volatile unsigned long acc = seed;
  for (int i = 0; i < 100000; i++) acc = acc * 6364136223846793005ul + 1442695040888963407ul;
  return acc;
}

TF_FRAME unsigned long tf_level3(unsigned long units) {
  unsigned long s = 0;
  for (int i = 0; i < 16; i++) s += unit_of_work(units + i);
  sink = s;
  return s;
}

TF_FRAME unsigned long tf_level2(unsigned long units) {
  unsigned long r = tf_level3(units);
  sink = r;
  return r + 1;
}

TF_FRAME unsigned long tf_level1(unsigned long units) {
  unsigned long r = tf_level2(units);
  sink = r;
  return r + 1;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  unsigned long units = 0, total = 0;
  double end = now() + seconds;
  while (now() < end) {
    total += tf_level1(units);
    units += 16;
  }
  struct timespec cpu;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  printf("%lu %lu %.6f\n", units, total & 1, cpu.tv_sec + cpu.tv_nsec / 1e9);
  return 0;
}
