// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * syscall_loop: a bystander. Makes N cheap syscalls (getppid) and times them,
 * to measure what arenatrace's syscall tracepoints cost processes it does NOT
 * trace.   syscall_loop [N=5000000] [DELAY_MS=300]   Prints: elapsed_s=<seconds>
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000000;
	long delay_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 300;
	struct timespec a, b;

	usleep(delay_ms * 1000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("elapsed_s=%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
