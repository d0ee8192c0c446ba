// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * faultloop: the fault-bound loop. Maps anonymous memory in 256 MiB chunks,
 * writes one byte per 4 KiB page (one write fault each), unmaps, repeats until
 * TOTAL_MIB were touched. Times only the loop, after a start delay, so tracer
 * start-up is not counted.   faultloop [TOTAL_MIB=4096] [DELAY_MS=300]
 * Prints: elapsed_s=<seconds> cpu_s=<its own CPU time> faults=<n>
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256UL << 20)

int main(int argc, char **argv)
{
	unsigned long total = (argc > 1 ? strtoul(argv[1], NULL, 10) : 4096) << 20;
	unsigned long delay_ms = argc > 2 ? strtoul(argv[2], NULL, 10) : 300;
	struct timespec a, b;
	unsigned long faults = 0;
	struct rusage ru;

	usleep(delay_ms * 1000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned long done = 0; done < total; done += CHUNK) {
		volatile char *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("faultloop: mmap");
			return 1;
		}
		for (unsigned long i = 0; i < CHUNK; i += 4096, faults++)
			p[i] = 1;
		munmap((void *)p, CHUNK);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &ru);
	/* kernel_faults: the kernel's own count for the whole process (getrusage). */
	printf("elapsed_s=%.6f cpu_s=%.6f faults=%lu kernel_faults=%ld\n",
	       (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6, faults,
	       ru.ru_minflt + ru.ru_majflt);
	return 0;
}
