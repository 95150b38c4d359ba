// exec-open bench workload. "open N": N opens (openat) and closes of /etc/hostname, one after another, in one
// thread. "exec N": N times posix_spawn /bin/true (vfork + execve) and wait. Prints "<ops/s> <CPU ns per op>":
// the process's own user + system time (getrusage; exec: with its children's), which includes the probes
// (they run in its context) and which a busy machine's other work inflates far less than the wall clock.
// Usage: exec_open_churn open|exec N
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double cpu(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: exec_open_churn open|exec N\n");
    return 2;
  }
  const int exec = strcmp(argv[1], "exec") == 0;
  long n = atol(argv[2]);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    if (exec) {
      char *args[] = {"/bin/true", "bench-arg", NULL};
      pid_t pid;
      int status;
      if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0 || waitpid(pid, &status, 0) != pid) {
        perror("spawn");
        return 1;
      }
    } else {
      int fd = open("/etc/hostname", O_RDONLY);
      if (fd < 0) {
        perror("open");
        return 1;
      }
      close(fd);
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  double used = cpu(RUSAGE_SELF) + (exec ? cpu(RUSAGE_CHILDREN) : 0);
  printf("%.0f %.0f\n", n / secs, used * 1e9 / n);
  return 0;
}
