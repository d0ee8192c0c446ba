// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * alloc_churn: malloc/free workloads for the allocator fingerprint tests. It only
 * calls malloc and free, so it runs on whichever allocator is linked or
 * LD_PRELOAD'ed (glibc, jemalloc, tcmalloc, mimalloc).
 *
 *   alloc_churn churn THREADS MIB   THREADS threads each malloc MIB MiB in objects
 *                                   of 64-1024 bytes and free 3 in 4 of them
 *   alloc_churn chained             glibc: one thread allocates 80 MiB in its arena
 *                                   (more than one 64 MiB heap: glibc chains a
 *                                   second heap), another thread 8 MiB in its own
 *   alloc_churn large N             N chunks of 1 MiB (above the mmap threshold)
 *
 * Same protocol as memops (the first checkpoint, "start", comes before any
 * allocation): at a checkpoint it prints
 *   READY <label> <hex_start>-<hex_end> ...
 * and blocks until a line arrives on stdin (EOF: exit 0); at the end DONE.
 * Every thread is blocked while the main thread waits at a checkpoint.
 * churn: no ranges. chained: the 64 MiB blocks of the big thread's heaps (first
 * the one holding its first object, then the one holding its last), then the
 * small thread's block. large: the chunks' pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "workload.h"

#define MIB (1024UL * 1024UL)
#define HEAP_MAX (64 * MIB)
#define PAGE 4096UL

static void die(const char *what)
{
	fprintf(stderr, "alloc_churn: %s: %s\n", what, strerror(errno));
	exit(100);
}

static void usage(void)
{
	fprintf(stderr, "usage: alloc_churn churn THREADS MIB | chained | large N\n");
	exit(2);
}

/* ---- churn ------------------------------------------------------------------- */

struct worker {
	pthread_t tid;
	size_t bytes;          /* to allocate */
	unsigned seed;
	void **keep;           /* survivors */
	size_t nkeep;
	uintptr_t first, last; /* addresses of the first and last objects */
};

static pthread_barrier_t started, allocated, released;

static void *churn_thread(void *arg)
{
	struct worker *w = arg;
	size_t cap = w->bytes / 64 / 4 + 16, done = 0, i = 0;
	void *first;

	/* Take an arena before the others start allocating. */
	first = malloc(64);
	if (!first)
		die("malloc");
	w->first = (uintptr_t)first;
	pthread_barrier_wait(&started);
	w->keep = malloc(cap * sizeof(void *));
	if (!w->keep)
		die("malloc");
	while (done < w->bytes) {
		size_t sz = 64 + (rand_r(&w->seed) % 961);
		char *p = malloc(sz);

		if (!p)
			die("malloc");
		memset(p, 0xa5, sz);
		done += sz;
		if (i++ % 4 == 0 && w->nkeep < cap)
			w->keep[w->nkeep++] = p;
		else
			free(p);
		/* Free later, not at once: survivors pin the pages in between. */
	}
	w->last = w->nkeep ? (uintptr_t)w->keep[w->nkeep - 1] : w->first;
	pthread_barrier_wait(&allocated);
	pthread_barrier_wait(&released);
	for (size_t k = 0; k < w->nkeep; k++)
		free(w->keep[k]);
	free(w->keep);
	free(first);
	return NULL;
}

/* Allocate without freeing: objects of 1 KiB, all kept (for the chained heaps). */
static void *keep_thread(void *arg)
{
	struct worker *w = arg;
	size_t n = w->bytes / 1024;

	w->keep = malloc(sizeof(void *));   /* takes the thread's arena */
	if (!w->keep)
		die("malloc");
	w->first = (uintptr_t)w->keep;
	pthread_barrier_wait(&started);
	free(w->keep);
	w->keep = malloc(n * sizeof(void *));
	if (!w->keep)
		die("malloc");
	for (size_t i = 0; i < n; i++) {
		char *p = malloc(1000);

		if (!p)
			die("malloc");
		memset(p, 0x5a, 1000);
		w->keep[w->nkeep++] = p;
	}
	w->last = (uintptr_t)w->keep[n - 1];
	pthread_barrier_wait(&allocated);
	pthread_barrier_wait(&released);
	for (size_t k = 0; k < w->nkeep; k++)
		free(w->keep[k]);
	free(w->keep);
	return NULL;
}

static void run_threads(struct worker *w, int n, void *(*fn)(void *))
{
	pthread_barrier_init(&started, NULL, n);
	pthread_barrier_init(&allocated, NULL, n + 1);
	pthread_barrier_init(&released, NULL, n + 1);
	for (int i = 0; i < n; i++)
		if ((errno = pthread_create(&w[i].tid, NULL, fn, &w[i])))
			die("pthread_create");
	pthread_barrier_wait(&allocated);
}

static void join_threads(struct worker *w, int n)
{
	pthread_barrier_wait(&released);
	for (int i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
}

static void scenario_churn(int threads, size_t mib)
{
	struct worker *w = calloc(threads, sizeof(*w));

	if (!w)
		die("calloc");
	for (int i = 0; i < threads; i++) {
		w[i].bytes = mib * MIB;
		w[i].seed = 12345 + i;
	}
	run_threads(w, threads, churn_thread);
	printf("READY churn\n");
	fflush(stdout);
	wait_line();
	join_threads(w, threads);
	free(w);
}

static void scenario_chained(void)
{
	struct worker w[2] = { { .bytes = 80 * MIB }, { .bytes = 8 * MIB } };
	uintptr_t b0, b1, b2;

	run_threads(w, 2, keep_thread);
	b0 = w[0].first & ~(HEAP_MAX - 1);
	b1 = w[0].last & ~(HEAP_MAX - 1);
	b2 = w[1].first & ~(HEAP_MAX - 1);
	printf("# big thread %lx..%lx, small thread %lx\n", (unsigned long)w[0].first,
	       (unsigned long)w[0].last, (unsigned long)w[1].first);
	printf("READY chained %lx-%lx %lx-%lx %lx-%lx\n", (unsigned long)b0,
	       (unsigned long)(b0 + HEAP_MAX), (unsigned long)b1, (unsigned long)(b1 + HEAP_MAX),
	       (unsigned long)b2, (unsigned long)(b2 + HEAP_MAX));
	fflush(stdout);
	wait_line();
	join_threads(w, 2);
}

static void scenario_large(int n)
{
	char **p = calloc(n, sizeof(*p));

	if (!p)
		die("calloc");
	for (int i = 0; i < n; i++) {
		p[i] = malloc(MIB);
		if (!p[i])
			die("malloc");
		memset(p[i], 0x11, MIB);
	}
	printf("READY large");
	for (int i = 0; i < n; i++) {
		uintptr_t lo = (uintptr_t)p[i] & ~(PAGE - 1);

		printf(" %lx-%lx", (unsigned long)lo, (unsigned long)((uintptr_t)p[i] + MIB + PAGE - 1) & ~(PAGE - 1));
	}
	printf("\n");
	fflush(stdout);
	wait_line();
	for (int i = 0; i < n; i++)
		free(p[i]);
	free(p);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	/* Before any allocation: a tracer that launched us through env(1) re-reads our
	 * maps after the exec; from here on it sees every mmap as it happens. */
	printf("READY start\n");
	fflush(stdout);
	wait_line();
	if (!strcmp(argv[1], "churn") && argc == 4)
		scenario_churn(atoi(argv[2]), strtoul(argv[3], NULL, 10));
	else if (!strcmp(argv[1], "chained") && argc == 2)
		scenario_chained();
	else if (!strcmp(argv[1], "large") && argc == 3)
		scenario_large(atoi(argv[2]));
	else
		usage();
	printf("DONE\n");
	fflush(stdout);
	return 0;
}
