// CPU-bound workload for overhead measurements: runs for SECONDS and prints
// how many fixed-size work units it completed.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) unsigned long unit_of_work(unsigned long seed) {
  volatile unsigned long acc = seed;
  for (int i = 0; i < 100000; i++) acc = acc * 6364136223846793005ul + 1442695040888963407ul;
  return acc;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 5;
  unsigned long units = 0, sink = 0;
  double end = now() + seconds;
  while (now() < end) {
    for (int i = 0; i < 16; i++) sink += unit_of_work(units + i);
    units += 16;
  }
  printf("%lu %lu\n", units, sink & 1);
  return 0;
}
