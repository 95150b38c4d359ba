// Allocation-heavy workload: waits until GO_FILE exists, then runs N malloc/free pairs and
// prints nanoseconds per pair.
// Usage: malloc_free N GO_FILE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long n = atol(argv[1]);
  while (access(argv[2], F_OK) != 0) usleep(5000);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    void *p = malloc(32 + (i & 127));
    sink = p;
    free(p);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
