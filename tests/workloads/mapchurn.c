// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * mapchurn: maps, touches and unmaps anonymous memory at changing addresses
 * and sizes for SECS seconds, so a tracer sees a stream of new arenas (one per
 * mapping) that come and go: the agent's memory-flatness test.
 *
 *   mapchurn SECS
 *
 * Prints "READY churn" and flushes once started; exits 0 after SECS.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define SLOTS 32

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10, end = now() + secs;
	void *slot[SLOTS] = { 0 };
	size_t len[SLOTS] = { 0 };
	unsigned seed = 1;

	printf("READY churn\n");
	fflush(stdout);
	while (now() < end) {
		for (int i = 0; i < SLOTS; i++) {
			seed = seed * 1664525u + 1013904223u;
			if (slot[i])
				munmap(slot[i], len[i]);
			/* Between 1 and 64 pages, a guard gap in front so mappings do not merge. */
			len[i] = (1 + (seed >> 8) % 64) * PAGE;
			slot[i] = mmap(NULL, len[i] + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (slot[i] == MAP_FAILED) {
				slot[i] = NULL;
				continue;
			}
			munmap(slot[i], PAGE);
			slot[i] = (char *)slot[i] + PAGE;
			for (size_t o = 0; o < len[i]; o += PAGE)
				((volatile char *)slot[i])[o] = 1;
		}
		usleep(20000);
	}
	return 0;
}
