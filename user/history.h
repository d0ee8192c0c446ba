/*
 * The run's timeline kept in memory for the reports written at the end (HTML,
 * CSV) and, later, the agent's recent past: per sample the process numbers and
 * each arena's. Bounded: when full, every other old point is dropped, so old
 * history gets coarser and memory stays flat however long the run.
 */
#ifndef ARENATRACE_HISTORY_H
#define ARENATRACE_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include "ledger.h"
#include "sample.h"

struct history_arena_point {
	uint32_t arena;                /* index into history.arena_ids */
	uint64_t mapped_bytes, resident_bytes, faulted_bytes, released_bytes, retained_bytes;
};

struct history_point {
	double t;
	uint64_t rss_bytes, accounted_bytes;
	size_t first, count;           /* its arena points in history.arena_points */
};

struct history {
	struct history_point *points;
	size_t nr_points, cap_points, max_points;
	struct history_arena_point *arena_points;
	size_t nr_arena_points, cap_arena_points;
	char **arena_ids;              /* every arena ever seen, in order of appearance */
	char **arena_kinds;
	size_t nr_arenas, cap_arenas;
	/* 0 = every arena in every point; else at most this many arenas (largest
	 * resident first) and the rest summed as one HISTORY_OTHER point. */
	size_t max_arenas;
};

/* The id and kind of the summed rest when max_arenas bounds a point. */
#define HISTORY_OTHER "other"

void history__init(struct history *h, size_t max_points);
void history__free(struct history *h);
/* Records one sample. retained(a) may be NULL (then 0). */
void history__add(struct history *h, const struct sample *s, const struct ledger *l,
		  uint64_t (*retained)(void *cookie, const struct arena *a), void *cookie);

/* Forgets the points older than t (the agent's ring of --history). */
void history__drop_before(struct history *h, double t);
/* Bytes the history holds allocated (for the agent's memory bound). */
size_t history__bytes(const struct history *h);

#endif
