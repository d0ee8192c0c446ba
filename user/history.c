#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "history.h"

/* Halving keeps the newest half whole, so fewer points than this cannot coarsen. */
#define HISTORY_MIN_POINTS 4
#define NO_INDEX UINT32_MAX

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "arenatrace: out of memory\n");
		abort();
	}
	return q;
}

/* Makes room for one more element of an array that doubles as it grows. */
static void *reserve(void *p, size_t nr, size_t *cap, size_t size)
{
	if (nr < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	return xrealloc(p, *cap * size);
}

void history__init(struct history *h, size_t max_points)
{
	memset(h, 0, sizeof(*h));
	h->max_points = max_points < HISTORY_MIN_POINTS ? HISTORY_MIN_POINTS : max_points;
}

void history__free(struct history *h)
{
	for (size_t i = 0; i < h->nr_arenas; i++) {
		free(h->arena_ids[i]);
		free(h->arena_kinds[i]);
	}
	free(h->arena_ids);
	free(h->arena_kinds);
	free(h->points);
	free(h->arena_points);
	memset(h, 0, sizeof(*h));
}

/* Forgets arena ids no kept point refers to any more, so a run that churns
 * mappings (a new anon arena per mmap) does not grow the id table forever. */
static void drop_unused_ids(struct history *h)
{
	uint32_t *map = xrealloc(NULL, h->nr_arenas * sizeof(*map));
	size_t n = 0;

	for (size_t i = 0; i < h->nr_arenas; i++)
		map[i] = NO_INDEX;
	for (size_t i = 0; i < h->nr_arena_points; i++)
		map[h->arena_points[i].arena] = 0;
	for (size_t i = 0; i < h->nr_arenas; i++) {
		if (map[i] == NO_INDEX) {
			free(h->arena_ids[i]);
			free(h->arena_kinds[i]);
			continue;
		}
		map[i] = (uint32_t)n;
		h->arena_ids[n] = h->arena_ids[i];
		h->arena_kinds[n] = h->arena_kinds[i];
		n++;
	}
	for (size_t i = 0; i < h->nr_arena_points; i++)
		h->arena_points[i].arena = map[h->arena_points[i].arena];
	h->nr_arenas = n;
	free(map);
}

/* Drops every other point of the older half (the first point stays: where the
 * run started matters). Arena points move down with their point. */
static void compact(struct history *h)
{
	size_t older = h->nr_points / 2, w = 0, wa = 0;

	for (size_t i = 0; i < h->nr_points; i++) {
		struct history_point p = h->points[i];

		if (i < older && (i & 1))
			continue;
		/* wa <= p.first always: moving down never overwrites what is still to move. */
		memmove(&h->arena_points[wa], &h->arena_points[p.first], p.count * sizeof(*h->arena_points));
		p.first = wa;
		wa += p.count;
		h->points[w++] = p;
	}
	h->nr_points = w;
	h->nr_arena_points = wa;
	drop_unused_ids(h);
}

static char *xstrdup(const char *s)
{
	return strcpy(xrealloc(NULL, strlen(s) + 1), s);
}

/*
 * The index of a's id. The ledger lists arenas in order of appearance and only
 * appends or removes, so walking the previous sample's arenas in step (cursor)
 * finds nearly every arena with one comparison; new ids fall back to a scan.
 */
static uint32_t arena_index(struct history *h, const struct history_point *prev, size_t *cursor,
			    const char *id, const char *kind)
{
	for (size_t i = *cursor; prev && i < prev->count; i++) {
		uint32_t k = h->arena_points[prev->first + i].arena;

		if (!strcmp(h->arena_ids[k], id)) {
			*cursor = i + 1;
			return k;
		}
	}
	/* An id seen before (an address reused after its arena went): newest first. */
	for (size_t k = h->nr_arenas; k-- > 0;)
		if (!strcmp(h->arena_ids[k], id))
			return (uint32_t)k;
	if (h->nr_arenas == h->cap_arenas) {
		h->cap_arenas = h->cap_arenas ? h->cap_arenas * 2 : 64;
		h->arena_ids = xrealloc(h->arena_ids, h->cap_arenas * sizeof(*h->arena_ids));
		h->arena_kinds = xrealloc(h->arena_kinds, h->cap_arenas * sizeof(*h->arena_kinds));
	}
	h->arena_ids[h->nr_arenas] = xstrdup(id);
	h->arena_kinds[h->nr_arenas] = xstrdup(kind);
	return (uint32_t)h->nr_arenas++;
}

static uint64_t pages_to_bytes(int64_t pages)
{
	/* A transiently negative count (a release seen before its fault) is no memory. */
	return pages > 0 ? (uint64_t)pages * AT_PAGE_SIZE : 0;
}

static int by_resident_desc(const void *x, const void *y)
{
	const struct arena *a = *(const struct arena *const *)x, *b = *(const struct arena *const *)y;

	return a->resident_pages < b->resident_pages ? 1 : a->resident_pages > b->resident_pages ? -1 : 0;
}

/* With max_arenas: the resident-pages threshold an arena must reach to get its
 * own point (ties at the threshold: the first ones in ledger order), in *ties. */
static int64_t top_threshold(const struct history *h, const struct ledger *l, size_t *ties)
{
	const struct arena **v;
	size_t n = 0;
	int64_t cut;

	*ties = 0;
	if (!h->max_arenas || !l || l->nr_arenas <= h->max_arenas)
		return INT64_MIN;
	v = xrealloc(NULL, l->nr_arenas * sizeof(*v));
	for (const struct arena *a = l->arenas; a && n < l->nr_arenas; a = a->next)
		v[n++] = a;
	if (n <= h->max_arenas) {
		free(v);
		return INT64_MIN;
	}
	qsort(v, n, sizeof(*v), by_resident_desc);
	cut = v[h->max_arenas - 1]->resident_pages;
	for (size_t i = 0; i < h->max_arenas; i++)
		if (v[i]->resident_pages == cut)
			(*ties)++;
	free(v);
	return cut;
}

void history__add(struct history *h, const struct sample *s, const struct ledger *l,
		  uint64_t (*retained)(void *cookie, const struct arena *a), void *cookie)
{
	struct history_point p = { .t = s->t, .rss_bytes = s->rss_bytes, .accounted_bytes = s->accounted_bytes };
	struct history_arena_point other = { 0 };
	const struct history_point *prev;
	size_t cursor = 0, ties;
	int64_t cut;
	bool any_other = false;

	if (h->nr_points >= h->max_points)
		compact(h);
	h->points = reserve(h->points, h->nr_points, &h->cap_points, sizeof(*h->points));
	prev = h->nr_points ? &h->points[h->nr_points - 1] : NULL;
	p.first = h->nr_arena_points;
	cut = top_threshold(h, l, &ties);
	for (const struct arena *a = l ? l->arenas : NULL; a; a = a->next) {
		struct history_arena_point ap = {
			.mapped_bytes = a->mapped_bytes,
			.resident_bytes = pages_to_bytes(a->resident_pages),
			.faulted_bytes = a->faulted_pages * AT_PAGE_SIZE,
			.released_bytes = a->released_pages * AT_PAGE_SIZE,
			.retained_bytes = retained ? retained(cookie, a) : 0,
		};

		bool rest = false;

		if (cut != INT64_MIN && a->resident_pages < cut)
			rest = true;
		else if (cut != INT64_MIN && a->resident_pages == cut)
			rest = ties ? (ties--, false) : true;
		if (rest) {
			other.mapped_bytes += ap.mapped_bytes;
			other.resident_bytes += ap.resident_bytes;
			other.faulted_bytes += ap.faulted_bytes;
			other.released_bytes += ap.released_bytes;
			other.retained_bytes += ap.retained_bytes;
			any_other = true;
			continue;
		}
		ap.arena = arena_index(h, prev, &cursor, a->id, a->kind ? a->kind->name : "?");
		h->arena_points = reserve(h->arena_points, h->nr_arena_points, &h->cap_arena_points,
					  sizeof(*h->arena_points));
		h->arena_points[h->nr_arena_points++] = ap;
		p.count++;
	}
	if (any_other) {
		other.arena = arena_index(h, prev, &cursor, HISTORY_OTHER, HISTORY_OTHER);
		h->arena_points = reserve(h->arena_points, h->nr_arena_points, &h->cap_arena_points,
					  sizeof(*h->arena_points));
		h->arena_points[h->nr_arena_points++] = other;
		p.count++;
	}
	h->points[h->nr_points++] = p;
}

void history__drop_before(struct history *h, double t)
{
	size_t n = 0, skip_ap;

	while (n < h->nr_points && h->points[n].t < t)
		n++;
	if (!n)
		return;
	skip_ap = n < h->nr_points ? h->points[n].first : h->nr_arena_points;
	memmove(h->points, h->points + n, (h->nr_points - n) * sizeof(*h->points));
	h->nr_points -= n;
	memmove(h->arena_points, h->arena_points + skip_ap,
		(h->nr_arena_points - skip_ap) * sizeof(*h->arena_points));
	h->nr_arena_points -= skip_ap;
	for (size_t i = 0; i < h->nr_points; i++)
		h->points[i].first -= skip_ap;
	drop_unused_ids(h);
}

size_t history__bytes(const struct history *h)
{
	size_t b = h->cap_points * sizeof(*h->points) + h->cap_arena_points * sizeof(*h->arena_points) +
		   h->cap_arenas * 2 * sizeof(char *);

	for (size_t i = 0; i < h->nr_arenas; i++)
		b += strlen(h->arena_ids[i]) + strlen(h->arena_kinds[i]) + 2;
	return b;
}
