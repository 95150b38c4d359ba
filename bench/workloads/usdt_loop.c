// USDT cost workload: waits until GO_FILE exists, then fires tfbench:hit(i) N times in a tight
// loop and prints the loop's nanoseconds per iteration.
// Usage: usdt_loop N GO_FILE
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = atol(argv[1]);
  while (access(argv[2], F_OK) != 0) usleep(5000);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) DTRACE_PROBE1(tfbench, hit, i);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("%.3f\n", ns / n);
  return 0;
}
