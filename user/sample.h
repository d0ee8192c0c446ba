/* One interval's process-level numbers, shared by every output. */
#ifndef ARENATRACE_SAMPLE_H
#define ARENATRACE_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct sample {
	double t;                 /* seconds since the tracer started */
	pid_t pid;
	const char *comm;
	uint64_t rss_bytes;       /* the kernel's RSS counters (file + anon + shmem) */
	uint64_t accounted_bytes; /* sum of the arenas' resident bytes */
	uint64_t lost_events;     /* ring buffer full, cumulative */
	uint64_t drift_bytes;     /* corrected by reconciliation, cumulative */
	int64_t unattributed_bytes; /* RSS changes no arena could take yet, cumulative */
	uint64_t retained_bytes;  /* see retention.h */
	uint64_t threads_created;
	bool final;
	/* --heap (heap.c): the allocator's live bytes; retained_bytes is then
	 * rss_bytes - live_bytes (never negative) instead of the age-based figure. */
	bool heap;
	uint64_t live_bytes;
	uint64_t heap_unknown_frees;   /* frees of blocks allocated before the probes (cumulative) */
	uint64_t heap_unplaced_bytes;  /* live bytes in no known mapping */
	uint64_t heap_lost;            /* blocks or records lost (maps or ring full, cumulative) */
};

#endif
