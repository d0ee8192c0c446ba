// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heap_burst: a burst of allocations whose live bytes are known exactly, for the
 * --heap tests. Only the C allocation API, so it runs on whichever allocator is
 * linked or LD_PRELOAD'ed (glibc, jemalloc, tcmalloc, mimalloc).
 *
 *   heap_burst THREADS MIB KEEP
 *
 * THREADS threads each allocate MIB MiB in blocks of 512-896 bytes, through
 * every entry point the tracer probes (malloc, calloc, realloc growing a block,
 * realloc(NULL, n), reallocarray, posix_memalign, aligned_alloc, memalign), then
 * free all but one in KEEP of them (the pattern that leaves an allocator
 * holding memory); the main thread then keeps an 8 MiB block
 * (above glibc's mmap threshold) and a 3 MiB calloc. Live bytes are the bytes
 * requested by the blocks kept (a realloc'ed block counts its last size).
 * Bookkeeping arrays are mmap'ed, so they are not live heap bytes.
 *
 * Protocol (as memops): "READY start" before any allocation, then after the
 * burst "LIVE <bytes>" and "READY burst", then after freeing everything
 * "LIVE 0" and "READY freed", then DONE. Each READY waits for a line on stdin
 * (EOF: exit 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "workload.h"

#define MIB (1024UL * 1024UL)

struct worker {
	unsigned id;
	size_t target_bytes;
	unsigned keep;
	void **kept;          /* every block, then the kept ones at the front */
	uint32_t *sizes;
	size_t nr_kept, cap_kept;
	uint64_t live;        /* requested bytes of the blocks kept */
};

/* Writes every byte; the compiler may not drop it as a dead store before free(). */
static void touch(void *p, int c, size_t len)
{
	memset(p, c, len);
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *what)
{
	fprintf(stderr, "heap_burst: %s: %s\n", what, strerror(errno));
	exit(100);
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* One block of `size` bytes through the i-th entry point; *got its live size. */
static void *alloc_one(unsigned i, size_t size)
{
	void *p = NULL;

	switch (i % 8) {
	case 0:
		p = malloc(size);
		break;
	case 1:
		p = calloc(size / 8, 8);   /* size is a multiple of 8 */
		break;
	case 2:
		/* grown: the first size is freed by realloc */
		p = malloc(size / 2);
		if (p)
			p = realloc(p, size);
		break;
	case 3:
		p = realloc(NULL, size);
		break;
	case 4:
		p = reallocarray(NULL, size / 16, 16);
		break;
	case 5:
		if (posix_memalign(&p, 64, size))
			p = NULL;
		break;
	case 6:
		p = aligned_alloc(64, size);   /* size is a multiple of 64 */
		break;
	case 7:
		p = memalign(128, size);
		break;
	}
	if (!p)
		die("allocation");
	touch(p, (int)(i % 255) + 1, size);
	return p;
}

/* The burst: every block first, then all but one in KEEP freed, as a burst of
 * requests leaves them (the survivors pin the memory around them). */
static void *work(void *arg)
{
	struct worker *w = arg;
	size_t done = 0, n = 0;

	for (unsigned i = 0; done < w->target_bytes; i++) {
		size_t size = 512 + ((i * 37 + w->id * 11) % 6) * 64;   /* 512..832, multiples of 64 */

		if (n == w->cap_kept)
			die("bookkeeping full");
		w->kept[n] = alloc_one(i, size);
		w->sizes[n++] = (uint32_t)size;
		done += size;
	}
	for (size_t i = 0; i < n; i++) {
		if (i % w->keep == 0) {
			w->kept[w->nr_kept++] = w->kept[i];
			w->live += w->sizes[i];
		} else {
			free(w->kept[i]);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads, keep;
	size_t mib;
	struct worker *ws;
	pthread_t *tids;
	uint64_t live = 0;
	void *big, *zeroed;

	if (argc != 4 || !(threads = (unsigned)atoi(argv[1])) || !(mib = (size_t)atol(argv[2])) ||
	    !(keep = (unsigned)atoi(argv[3]))) {
		fprintf(stderr, "usage: heap_burst THREADS MIB KEEP\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);   /* stdio allocates no buffer */
	ws = map(threads * sizeof(*ws));
	tids = map(threads * sizeof(*tids));
	printf("READY start\n");
	wait_line();
	for (unsigned t = 0; t < threads; t++) {
		ws[t] = (struct worker){ .id = t, .target_bytes = mib * MIB, .keep = keep };
		ws[t].cap_kept = mib * MIB / 512 + 2;
		ws[t].kept = map(ws[t].cap_kept * sizeof(void *));
		ws[t].sizes = map(ws[t].cap_kept * sizeof(uint32_t));
		if (pthread_create(&tids[t], NULL, work, &ws[t]))
			die("pthread_create");
	}
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		live += ws[t].live;
	}
	big = malloc(8 * MIB);
	zeroed = calloc(3, MIB);
	if (!big || !zeroed)
		die("large allocation");
	touch(big, 1, 8 * MIB);
	touch(zeroed, 1, 3 * MIB);
	live += 11 * MIB;
	printf("LIVE %llu\n", (unsigned long long)live);
	printf("READY burst\n");
	wait_line();
	for (unsigned t = 0; t < threads; t++)
		for (size_t i = 0; i < ws[t].nr_kept; i++)
			free(ws[t].kept[i]);
	free(big);
	free(zeroed);
	printf("LIVE 0\n");
	printf("READY freed\n");
	wait_line();
	printf("DONE\n");
	return 0;
}
