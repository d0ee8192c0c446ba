// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * retention: the demo workload for `make demo`.
 *
 *   retention [SECONDS]     (default 5)
 *
 * 4 threads each malloc 200,000 objects of 512-896 bytes and free 98% of
 * them. glibc gives each thread its own arena, and the 2% survivors pin the
 * freed chunks around them, so the process keeps hundreds of MiB of RSS for
 * a few MiB of live data. It then sleeps SECONDS holding the survivors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4
#define OBJECTS 200000L
#define KEEP_EVERY 50 /* keep 1 object in 50: 2% */

struct worker {
	int id;
	void **kept;
	long nkept;
	size_t kept_bytes;
};

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	void **all = malloc(OBJECTS * sizeof(void *));
	size_t *sizes = malloc(OBJECTS * sizeof(size_t));
	uint32_t seed = 777u + w->id;

	if (!all || !sizes) {
		perror("retention: malloc");
		exit(1);
	}
	for (long i = 0; i < OBJECTS; i++) {
		sizes[i] = 512 + lcg(&seed) % 385;
		all[i] = malloc(sizes[i]);
		if (!all[i]) {
			perror("retention: malloc");
			exit(1);
		}
		memset(all[i], (int)i, sizes[i]);
	}
	w->kept = malloc((OBJECTS / KEEP_EVERY + 1) * sizeof(void *));
	for (long i = 0; i < OBJECTS; i++) {
		if (i % KEEP_EVERY == KEEP_EVERY - 1) {
			w->kept[w->nkept++] = all[i];
			w->kept_bytes += sizes[i];
		} else {
			free(all[i]);
		}
	}
	free(sizes);
	free(all);
	return NULL;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	pthread_t t[THREADS];
	struct worker w[THREADS];
	long kept = 0;
	size_t kept_bytes = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .id = i };
		if ((errno = pthread_create(&t[i], NULL, work, &w[i]))) {
			perror("retention: pthread_create");
			return 1;
		}
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		kept += w[i].nkept;
		kept_bytes += w[i].kept_bytes;
	}
	printf("retention: pid %d: %d threads x %ld objects of 512-896 bytes, freed 98%%; "
	       "%ld objects (%.1f MiB) live, RSS %.1f MiB; holding for %.1f s\n",
	       (int)getpid(), THREADS, OBJECTS, kept, kept_bytes / 1048576.0,
	       rss_kib() / 1024.0, secs);
	fflush(stdout);
	if (secs > 0)
		usleep((useconds_t)(secs * 1e6));
	return 0;
}
