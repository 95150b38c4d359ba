/* Turns on the kernel's BPF run-time statistics (run_cnt, run_time_ns) for as long as it runs, through
 * BPF_ENABLE_STATS: the kernel counts the holders and switches the statistics off again when the last fd closes,
 * whatever the sysctl kernel.bpf_stats_enabled says — nothing global is left changed. Prints "on", then waits for
 * its stdin to close. */
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.enable_stats.type = BPF_STATS_RUN_TIME;
	int fd = syscall(__NR_bpf, BPF_ENABLE_STATS, &attr, sizeof(attr));
	if (fd < 0) {
		perror("BPF_ENABLE_STATS");
		return 1;
	}
	puts("on");
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof(buf)) > 0) {
	}
	close(fd);
	return 0;
}
