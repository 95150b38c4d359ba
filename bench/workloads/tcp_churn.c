// tcp bench workload: N loopback TCP connections, one after another, in one thread. Each: connect, accept,
// one byte each way, close both (the client with SO_LINGER 0: a reset, so no TIME_WAIT piles up and the
// ephemeral ports last). Every connection fires sock:inet_sock_set_state for both sockets (client: SYN_SENT,
// ESTABLISHED, CLOSE; server: SYN_RECV, ESTABLISHED, CLOSE). Prints "<connections/s> <CPU ns per connection>":
// the process's own user + system time (getrusage), which a busy machine's other work inflates far less than
// the wall clock, and which includes the probes (they run in its context).
// Usage: tcp_churn N
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
  perror(what);
  exit(1);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(addr);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 128) != 0) die("listen");
  if (getsockname(lfd, (struct sockaddr *)&addr, &len) != 0) die("getsockname");
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)) != 0) die("connect");
    int s = accept(lfd, NULL, NULL);
    if (s < 0) die("accept");
    char b = 'x';
    if (write(c, &b, 1) != 1 || read(s, &b, 1) != 1 || write(s, &b, 1) != 1 || read(c, &b, 1) != 1) die("exchange");
    setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(c);
    close(s);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  printf("%.0f %.0f\n", n / secs, cpu * 1e9 / n);
  return 0;
}
