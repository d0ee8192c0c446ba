// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * churn: the allocator-churn workload. THREADS threads each run ROUNDS rounds of:
 * malloc a burst of objects (64 B - 256 KiB, some above the mmap threshold),
 * touch them, free most, and every 8th round malloc_trim(0). So brk, mmap,
 * munmap, mprotect (arena growth), madvise (trim) and faults all happen.
 * Times only the work, after a start delay.   churn [ROUNDS=200] [THREADS=4] [DELAY_MS=300]
 * Prints: elapsed_s=<seconds> cpu_s=<its own CPU time>
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BURST 2000

static long rounds = 200;

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void *work(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg * 7919u + 1;
	void **keep = calloc(BURST, sizeof(void *));
	void **objs = calloc(BURST, sizeof(void *));

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < BURST; i++) {
			size_t sz = lcg(&seed) % 100 ? 64 + lcg(&seed) % 4096 : 64 * 1024 + lcg(&seed) % (192 * 1024);

			objs[i] = malloc(sz);
			memset(objs[i], 1, sz);
		}
		for (int i = 0; i < BURST; i++) {
			if (lcg(&seed) % 20 == 0) {
				free(keep[i]);
				keep[i] = objs[i];
			} else {
				free(objs[i]);
			}
		}
		if (r % 8 == 7)
			malloc_trim(0);
	}
	for (int i = 0; i < BURST; i++)
		free(keep[i]);
	free(keep);
	free(objs);
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 4;
	long delay_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 300;
	pthread_t t[64];
	struct timespec a, b;
	struct rusage ru;

	rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
	if (threads < 1 || threads > 64)
		threads = 4;
	usleep(delay_ms * 1000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, work, (void *)(uintptr_t)(i + 1));
	for (long i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &ru);
	printf("elapsed_s=%.6f cpu_s=%.6f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return 0;
}
