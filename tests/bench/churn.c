// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * churn: the allocator-churn workload. THREADS threads each run ROUNDS rounds of:
 * malloc a burst of objects (64 B - 256 KiB, some above the mmap threshold),
 * touch them, free most, and every 8th round malloc_trim(0). So brk, mmap,
 * munmap, mprotect (arena growth), madvise (trim) and faults all happen.
 * Times only the work, after a start delay.   churn [ROUNDS=200] [THREADS=4] [DELAY_MS=300]
 * Prints: elapsed_s=<seconds> cpu_s=<its CPU time>
 * churn ROUNDS THREADS stream: rounds until stdin closes, progress in rounds
 * (bench_loop.h).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include "bench_loop.h"

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

	for (long r = 0; rounds ? r < rounds : !bench_stopping(); r++) {
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
		bench_unit_done(1);
	}
	for (int i = 0; i < BURST; i++)
		free(keep[i]);
	free(keep);
	free(objs);
	return NULL;
}

static long threads = 4;
static pthread_t tids[64];

static void start_threads(void)
{
	for (long i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, work, (void *)(uintptr_t)(i + 1));
}

static void join_threads(void)
{
	for (long i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
}

/* A whole run: THREADS threads of ROUNDS rounds each. */
static void run_threads(void)
{
	start_threads();
	join_threads();
}

int main(int argc, char **argv)
{
	int stream = bench_stream_mode(&argc, argv);

	threads = argc > 2 ? strtol(argv[2], NULL, 10) : 4;
	rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 200;
	if (threads < 1 || threads > 64)
		threads = 4;
	if (stream) {
		rounds = 0; /* until stopped */
		return bench_stream(start_threads, join_threads);
	}
	return bench_whole_run(argc > 3 ? strtoul(argv[3], NULL, 10) : 300, run_threads, NULL);
}
