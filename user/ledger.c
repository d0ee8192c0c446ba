#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "ledger.h"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q) {
		fprintf(stderr, "arenatrace: out of memory\n");
		abort();
	}
	return q;
}

static char *xstrdup(const char *s)
{
	return s ? strcpy(xrealloc(NULL, strlen(s) + 1), s) : NULL;
}

void ledger__add_observer(struct ledger *l, const struct ledger_observer *o)
{
	if (l->nr_observers < LEDGER_MAX_OBSERVERS)
		l->observers[l->nr_observers++] = *o;
}

void ledger__notify(const struct ledger *l, struct arena *a, uint64_t lo, uint64_t hi, int64_t pages,
		    uint64_t ts_ns)
{
	for (size_t i = 0; i < l->nr_observers; i++)
		if (l->observers[i].on_change)
			l->observers[i].on_change(l->observers[i].cookie, a, lo, hi, pages, ts_ns);
}

static void notify_free(const struct ledger *l, struct arena *a)
{
	for (size_t i = 0; i < l->nr_observers; i++)
		if (l->observers[i].on_free)
			l->observers[i].on_free(l->observers[i].cookie, a);
}

void ledger__init(struct ledger *l, ledger_resolve_fn resolve, void *cookie)
{
	memset(l, 0, sizeof(*l));
	l->resolve = resolve;
	l->resolve_cookie = cookie;
}

static void free_arenas(struct ledger *l)
{
	struct arena *a = l->arenas, *n;

	for (; a; a = n) {
		n = a->next;
		notify_free(l, a);
		free(a->id);
		free(a);
	}
	l->arenas = NULL;
	l->nr_arenas = 0;
}

static void free_regions(struct ledger *l)
{
	for (size_t i = 0; i < l->nr_regions; i++)
		free(l->regions[i].path);
	l->nr_regions = 0;
}

void ledger__reset(struct ledger *l)
{
	free_regions(l);
	free_arenas(l);
	free(l->thread_sps);
	l->thread_sps = NULL;
	l->nr_thread_sps = 0;
	l->brk_start = l->brk_end = 0;
	l->needs_full_reconcile = false;
}

void ledger__free(struct ledger *l)
{
	ledger__reset(l);
	free(l->regions);
	l->regions = NULL;
	l->cap_regions = 0;
}

/* ---- lookups ---------------------------------------------------------------- */

size_t ledger__index_at(const struct ledger *l, uint64_t addr)
{
	size_t lo = 0, hi = l->nr_regions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->regions[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct region *ledger__region_at(const struct ledger *l, uint64_t addr)
{
	size_t i = ledger__index_at(l, addr);

	if (i < l->nr_regions && l->regions[i].start <= addr)
		return &l->regions[i];
	return NULL;
}

bool ledger__has_thread_sp(const struct ledger *l, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < l->nr_thread_sps; i++)
		if (l->thread_sps[i] >= start && l->thread_sps[i] < end)
			return true;
	return false;
}

struct arena *ledger__find_arena(const struct ledger *l, const char *id)
{
	for (struct arena *a = l->arenas; a; a = a->next)
		if (!a->gone && !strcmp(a->id, id))
			return a;
	return NULL;
}

int64_t ledger__accounted_pages(const struct ledger *l)
{
	int64_t sum = 0;

	for (struct arena *a = l->arenas; a; a = a->next)
		sum += a->resident_pages;
	return sum;
}

void ledger__set_thread_sps(struct ledger *l, const uint64_t *sps, size_t n)
{
	free(l->thread_sps);
	l->thread_sps = n ? memcpy(xrealloc(NULL, n * sizeof(*sps)), sps, n * sizeof(*sps)) : NULL;
	l->nr_thread_sps = n;
}

/* ---- arenas ----------------------------------------------------------------- */

static struct arena *arena_get(struct ledger *l, const struct arena_kind *kind, const char *key)
{
	char id[ARENA_KEY_LEN + 64];
	struct arena *a;

	snprintf(id, sizeof(id), "%s:%s", kind->name, key);
	a = ledger__find_arena(l, id);
	if (a)
		return a;
	a = xrealloc(NULL, sizeof(*a));
	memset(a, 0, sizeof(*a));
	a->id = xstrdup(id);
	a->kind = kind;
	a->created_ns = a->last_change_ns = l->now_ns;
	/* Append so reports list arenas in order of appearance. */
	struct arena **pp = &l->arenas;
	while (*pp)
		pp = &(*pp)->next;
	*pp = a;
	l->nr_arenas++;
	return a;
}

static void arena_apply(struct ledger *l, struct arena *a, uint64_t lo, uint64_t hi, int64_t delta)
{
	if (!delta)
		return;
	ledger__notify(l, a, lo, hi, delta, l->now_ns);
	a->resident_pages += delta;
	if (delta > 0)
		a->faulted_pages += delta;
	else
		a->released_pages += -delta;
	if (a->resident_pages < 0) {
		/* More released than we knew of: our count was short; the kernel is right. */
		l->drift_pages += -a->resident_pages;
		a->resident_pages = 0;
		a->needs_reconcile = true;
	}
	if (a->resident_pages > a->peak_resident_pages)
		a->peak_resident_pages = a->resident_pages;
	a->last_change_ns = l->now_ns;
}

void ledger__suspect(struct ledger *l)
{
	l->suspect_events++;
	l->needs_full_reconcile = true;
}

void ledger__correct(struct ledger *l, struct arena *a, int64_t pages, uint64_t walk_ns)
{
	int64_t diff = pages - a->resident_pages;

	a->corrected_ns = walk_ns;
	if (diff)
		ledger__notify(l, a, 0, 0, diff, l->now_ns);
	l->drift_pages += diff < 0 ? -diff : diff;
	a->resident_pages = pages;
	if (pages > a->peak_resident_pages)
		a->peak_resident_pages = pages;
	a->needs_reconcile = false;
}

void ledger__collect_gone(struct ledger *l)
{
	struct arena **pp = &l->arenas;

	while (*pp) {
		struct arena *a = *pp;

		if (a->gone) {
			*pp = a->next;
			notify_free(l, a);
			free(a->id);
			free(a);
			l->nr_arenas--;
		} else {
			pp = &a->next;
		}
	}
}

static void arena_attach(struct arena *a, struct region *r)
{
	r->arena = a;
	a->mapped_bytes += region__len(r);
	a->nr_regions++;
	a->gone = false;
}

static void arena_detach(struct ledger *l, struct region *r)
{
	struct arena *a = r->arena;

	if (!a)
		return;
	a->mapped_bytes -= region__len(r);
	if (--a->nr_regions == 0) {
		if (a->resident_pages) {
			/* Nothing mapped can hold nothing resident. */
			l->drift_pages += a->resident_pages < 0 ? -a->resident_pages : a->resident_pages;
			a->resident_pages = 0;
		}
		a->gone = true;
	}
	r->arena = NULL;
}

/* ---- region array ------------------------------------------------------------ */

static struct region *insert_at(struct ledger *l, size_t i, const struct region *r)
{
	if (l->nr_regions == l->cap_regions) {
		l->cap_regions = l->cap_regions ? l->cap_regions * 2 : 64;
		l->regions = xrealloc(l->regions, l->cap_regions * sizeof(*l->regions));
	}
	memmove(&l->regions[i + 1], &l->regions[i], (l->nr_regions - i) * sizeof(*l->regions));
	l->regions[i] = *r;
	l->regions[i].path = xstrdup(r->path);
	l->regions[i].arena = NULL;
	l->nr_regions++;
	return &l->regions[i];
}

static void erase_at(struct ledger *l, size_t i)
{
	arena_detach(l, &l->regions[i]);
	free(l->regions[i].path);
	memmove(&l->regions[i], &l->regions[i + 1], (l->nr_regions - i - 1) * sizeof(*l->regions));
	l->nr_regions--;
}

/* Make addr a region boundary. Both halves stay in the same arena. */
static void split_at(struct ledger *l, uint64_t addr)
{
	size_t i = ledger__index_at(l, addr);
	struct region *r, *hi;

	if (i >= l->nr_regions || l->regions[i].start >= addr)
		return;
	r = &l->regions[i];
	struct region copy = *r;
	copy.start = addr;
	r->end = addr;
	hi = insert_at(l, i + 1, &copy);
	hi->arena = l->regions[i].arena;
	hi->arena->nr_regions++;
}

static bool same_shape(const struct region *a, const struct region *b)
{
	return a->end == b->start && a->arena == b->arena && a->prot == b->prot &&
	       a->shared == b->shared && a->map_flags == b->map_flags &&
	       ((!a->path && !b->path) || (a->path && b->path && !strcmp(a->path, b->path)));
}

/* Join neighbours that the kernel would show as one VMA, keeping the array small. */
static void merge_range(struct ledger *l, uint64_t start, uint64_t end)
{
	size_t i = ledger__index_at(l, start);

	if (i > 0)
		i--;
	while (i + 1 < l->nr_regions && l->regions[i].start <= end) {
		struct region *a = &l->regions[i], *b = &l->regions[i + 1];

		if (same_shape(a, b)) {
			a->end = b->end;
			b->arena->nr_regions--;
			free(b->path);
			memmove(b, b + 1, (l->nr_regions - i - 2) * sizeof(*b));
			l->nr_regions--;
		} else {
			i++;
		}
	}
}

static bool arena_touches(const struct ledger *l, const struct arena *a, const struct region *r)
{
	const struct region *below = r->start ? ledger__region_at(l, r->start - 1) : NULL;
	const struct region *above = ledger__region_at(l, r->end);

	return (below && below->arena == a) || (above && above->arena == a);
}

/* The arena a freshly classified region joins when its key matches a live arena's
 * (see enum arena_join). A new mapping at the address an older arena was keyed on
 * (moved away by mremap, or trimmed) starts an arena of its own, "key#2". */
static struct arena *arena_for(struct ledger *l, const struct arena_kind *k, const char *key,
			       const struct region *r)
{
	char id[ARENA_KEY_LEN + 64];
	struct arena *a;

	snprintf(id, sizeof(id), "%s:%s", k->name, key);
	a = ledger__find_arena(l, id);
	if (!a || k->join == JOIN_BY_KEY || (k->join == JOIN_ADJACENT && arena_touches(l, a, r)))
		return arena_get(l, k, key);
	for (unsigned n = 2;; n++) {
		char alt[ARENA_KEY_LEN + 16];

		snprintf(alt, sizeof(alt), "%s#%u", key, n);
		snprintf(id, sizeof(id), "%s:%s", k->name, alt);
		if (!ledger__find_arena(l, id))
			return arena_get(l, k, alt);
	}
}

static void classify_at(struct ledger *l, size_t i)
{
	char key[ARENA_KEY_LEN];
	const struct arena_kind *k;

	k = classifier__classify(&l->regions[i], l, key, sizeof(key));
	arena_attach(arena_for(l, k, key, &l->regions[i]), &l->regions[i]);
}

/* ---- attribution ------------------------------------------------------------- */

#define MAX_SPLIT 64

/* Gives a range's RSS change to the arenas mapped there. One arena: exact. Several:
 * shared by overlap and flagged for reconciliation. None: unattributed. */
static void distribute(struct ledger *l, uint64_t start, uint64_t end, int64_t delta)
{
	struct arena *arenas[MAX_SPLIT];
	uint64_t overlap[MAX_SPLIT], total = 0;
	size_t n = 0;

	if (!delta)
		return;
	for (size_t i = ledger__index_at(l, start); i < l->nr_regions && l->regions[i].start < end; i++) {
		struct region *r = &l->regions[i];
		uint64_t lo = r->start > start ? r->start : start;
		uint64_t hi = r->end < end ? r->end : end;
		size_t j;

		for (j = 0; j < n && arenas[j] != r->arena; j++)
			;
		if (j == n) {
			if (n == MAX_SPLIT)
				break;
			arenas[n] = r->arena;
			overlap[n++] = 0;
		}
		overlap[j] += hi - lo;
		total += hi - lo;
	}
	if (n == 0) {
		ledger__unattributed(l, delta);
		return;
	}
	if (n == 1) {
		arena_apply(l, arenas[0], start, end, delta);
		return;
	}
	int64_t left = delta;
	for (size_t j = 0; j < n; j++) {
		int64_t share = j + 1 == n ? left : (int64_t)((double)delta * overlap[j] / total);

		if (delta < 0 && -share > arenas[j]->resident_pages && j + 1 < n)
			share = -arenas[j]->resident_pages;
		arena_apply(l, arenas[j], start, end, share);
		arenas[j]->needs_reconcile = true;
		left -= share;
	}
}

void ledger__unattributed(struct ledger *l, int64_t delta_pages)
{
	if (!delta_pages)
		return;
	l->unattributed_pages += delta_pages;
	l->needs_full_reconcile = true;
}

/* ---- seeding ------------------------------------------------------------------ */

void ledger__seed_region(struct ledger *l, const struct region *r)
{
	size_t i = ledger__index_at(l, r->start);

	insert_at(l, i, r);
}

void ledger__seed_done(struct ledger *l)
{
	for (size_t i = 0; i < l->nr_regions; i++) {
		struct region *r = &l->regions[i];

		if (!r->arena)
			classify_at(l, i);
		if (r->path && !strcmp(r->path, "[heap]")) {
			if (!l->brk_start || r->start < l->brk_start)
				l->brk_start = r->start;
			if (r->end > l->brk_end)
				l->brk_end = r->end;
		}
	}
}

/* ---- events -------------------------------------------------------------------- */

/* Removes [start, end) from the ledger; returns the single arena that owned all of
 * it, or NULL when none or several did. */
static struct arena *remove_range(struct ledger *l, uint64_t start, uint64_t end, bool *any)
{
	struct arena *owner = NULL;
	bool mixed = false;
	size_t i;

	l->last_unmap_ns = l->now_ns;
	split_at(l, start);
	split_at(l, end);
	*any = false;
	i = ledger__index_at(l, start);
	while (i < l->nr_regions && l->regions[i].start < end) {
		struct arena *a = l->regions[i].arena;

		if (*any && a != owner)
			mixed = true;
		owner = a;
		*any = true;
		/* Keep a draining arena alive until the caller has looked at it. */
		erase_at(l, i);
	}
	return mixed ? NULL : owner;
}

void ledger__map(struct ledger *l, const struct region *r, int64_t delta_pages)
{
	struct region nr = *r;
	struct arena *inherit;
	bool overlapped;
	size_t i;

	nr.end = AT_PAGE_ALIGN(nr.end);
	if (nr.end <= nr.start)
		return;
	/* MAP_FIXED over existing mappings: their pages were zapped inside this call. */
	for (i = ledger__index_at(l, nr.start); i < l->nr_regions && l->regions[i].start < nr.end; i++)
		break;
	overlapped = i < l->nr_regions && l->regions[i].start < nr.end;
	if (overlapped && delta_pages < 0 && !(nr.map_flags & (MAP_POPULATE | MAP_LOCKED))) {
		distribute(l, nr.start, nr.end, delta_pages);
		delta_pages = 0;
	}
	inherit = overlapped ? remove_range(l, nr.start, nr.end, &overlapped) : NULL;
	i = ledger__index_at(l, nr.start);
	insert_at(l, i, &nr);
	/* A fixed anonymous remap inside one arena (glibc shrinking a heap with a
	 * PROT_NONE mmap) stays in that arena. */
	if (inherit && !inherit->kind->provisional && region__is_anon(&nr) && !nr.shared &&
	    !region__is_file(&nr) && strcmp(inherit->kind->name, "file"))
		arena_attach(inherit, &l->regions[i]);
	else
		classify_at(l, i);
	if (inherit && inherit->nr_regions == 0)
		inherit->gone = true;
	if (delta_pages) {
		if (overlapped && delta_pages < 0)
			l->regions[i].arena->needs_reconcile = true;
		distribute(l, nr.start, nr.end, delta_pages);
	}
	merge_range(l, nr.start, nr.end);
}

void ledger__unmap(struct ledger *l, uint64_t start, uint64_t end, int64_t delta_pages)
{
	bool any;

	end = AT_PAGE_ALIGN(end);
	if (end <= start)
		return;
	distribute(l, start, end, delta_pages);
	remove_range(l, start, end, &any);
}

/* After an mprotect, a provisional (anon) arena may now be recognisable, e.g. a
 * 64 MiB PROT_NONE reservation that glibc starts opening as a heap. */
static void reclassify(struct ledger *l, struct arena *a)
{
	char key[ARENA_KEY_LEN];
	const struct arena_kind *k;
	struct arena *to;
	size_t first = l->nr_regions;

	if (!a || !a->kind->provisional || a->faulted_pages)
		return;
	for (size_t i = 0; i < l->nr_regions; i++)
		if (l->regions[i].arena == a) {
			first = i;
			break;
		}
	if (first == l->nr_regions)
		return;
	k = classifier__classify(&l->regions[first], l, key, sizeof(key));
	if (k == a->kind)
		return;
	to = arena_get(l, k, key);
	for (size_t i = 0; i < l->nr_regions; i++) {
		if (l->regions[i].arena != a)
			continue;
		arena_detach(l, &l->regions[i]);
		arena_attach(to, &l->regions[i]);
	}
	to->resident_pages += a->resident_pages;
	to->peak_resident_pages += a->peak_resident_pages;
	a->resident_pages = 0;
	a->gone = true;
}

void ledger__protect(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot, int64_t delta_pages)
{
	struct arena *touched[MAX_SPLIT];
	size_t n = 0;

	end = AT_PAGE_ALIGN(end);
	if (end <= start)
		return;
	split_at(l, start);
	split_at(l, end);
	for (size_t i = ledger__index_at(l, start); i < l->nr_regions && l->regions[i].start < end; i++) {
		size_t j;

		l->regions[i].prot = prot;
		for (j = 0; j < n && touched[j] != l->regions[i].arena; j++)
			;
		if (j == n && n < MAX_SPLIT)
			touched[n++] = l->regions[i].arena;
	}
	distribute(l, start, end, delta_pages);
	for (size_t j = 0; j < n; j++)
		reclassify(l, touched[j]);
	merge_range(l, start, end);
}

void ledger__remap(struct ledger *l, uint64_t old_start, uint64_t old_len, uint64_t new_start,
		   uint64_t new_len, bool keep_old, int64_t delta_pages)
{
	uint64_t old_end, keep_len;
	struct region *pieces = NULL;
	size_t n = 0, i;

	old_len = AT_PAGE_ALIGN(old_len);
	new_len = AT_PAGE_ALIGN(new_len);
	old_end = old_start + old_len;
	if (new_start == old_start) {
		if (new_len < old_len) {
			ledger__unmap(l, old_start + new_len, old_end, delta_pages);
		} else if (new_len > old_len) {
			const struct region *last = ledger__region_at(l, old_end - 1);

			if (!last) {
				ledger__unattributed(l, delta_pages);
				return;
			}
			struct region grow = *last;
			grow.start = old_end;
			grow.end = old_start + new_len;
			i = ledger__index_at(l, grow.start);
			struct arena *a = last->arena;
			insert_at(l, i, &grow);
			arena_attach(a, &l->regions[i]);
			distribute(l, old_start, old_start + new_len, delta_pages);
			merge_range(l, old_start, old_start + new_len);
		} else {
			distribute(l, old_start, old_end, delta_pages);
		}
		return;
	}

	/* A move: the pages travel with their arena; RSS does not change for them. */
	keep_len = new_len < old_len ? new_len : old_len;
	split_at(l, old_start);
	split_at(l, old_start + keep_len);
	for (i = ledger__index_at(l, old_start); i < l->nr_regions && l->regions[i].start < old_start + keep_len; i++) {
		pieces = realloc(pieces, (n + 1) * sizeof(*pieces));
		if (!pieces)
			abort();
		pieces[n] = l->regions[i];
		pieces[n].path = l->regions[i].path ? strdup(l->regions[i].path) : NULL;
		n++;
	}
	/* Whatever was at the destination (MREMAP_FIXED) was unmapped in this call;
	 * a shrinking move released the old tail. */
	bool dest_busy = false;
	for (i = ledger__index_at(l, new_start); i < l->nr_regions && l->regions[i].start < new_start + new_len; i++) {
		dest_busy = true;
		break;
	}
	if (dest_busy)
		distribute(l, new_start, new_start + new_len, delta_pages);
	else if (n)
		arena_apply(l, pieces[n - 1].arena, new_start, new_start + new_len, delta_pages);
	else
		ledger__unattributed(l, delta_pages);
	if (dest_busy) {
		bool any;
		remove_range(l, new_start, new_start + new_len, &any);
	}
	if (!keep_old) {
		bool any;
		/* Pieces keep their arena pointer; hold the arenas by re-attaching below. */
		for (i = 0; i < n; i++)
			pieces[i].arena->nr_regions++;
		remove_range(l, old_start, old_end, &any);
		for (i = 0; i < n; i++)
			pieces[i].arena->nr_regions--;
	}
	for (i = 0; i < n; i++) {
		struct region moved = pieces[i];
		size_t at;

		moved.start = pieces[i].start - old_start + new_start;
		moved.end = pieces[i].end - old_start + new_start;
		if (i + 1 == n && new_len > old_len)
			moved.end = new_start + new_len;
		at = ledger__index_at(l, moved.start);
		insert_at(l, at, &moved);
		arena_attach(pieces[i].arena, &l->regions[at]);
		free(pieces[i].path);
	}
	free(pieces);
	merge_range(l, new_start, new_start + new_len);
}

void ledger__brk(struct ledger *l, uint64_t new_brk, int64_t delta_pages)
{
	uint64_t end = AT_PAGE_ALIGN(new_brk);

	if (!l->brk_start) {
		/* First brk(0): the heap starts here, empty. */
		l->brk_start = l->brk_end = end;
		ledger__unattributed(l, delta_pages);
		return;
	}
	if (end > l->brk_end) {
		struct region heap = {
			.start = l->brk_end, .end = end, .prot = PROT_READ | PROT_WRITE,
			.path = "[heap]",
		};
		uint64_t old = l->brk_end;

		l->brk_end = end;
		ledger__map(l, &heap, delta_pages);
		(void)old;
	} else if (end < l->brk_end) {
		uint64_t old = l->brk_end;

		l->brk_end = end;
		ledger__unmap(l, end, old, delta_pages);
	} else {
		distribute(l, l->brk_start, l->brk_end, delta_pages);
	}
}

void ledger__range_delta(struct ledger *l, uint64_t start, uint64_t end, int64_t delta_pages)
{
	distribute(l, start, AT_PAGE_ALIGN(end), delta_pages);
}

/* Adds the parts of a resolved VMA that the ledger does not hold yet. */
static void learn_vma(struct ledger *l, const struct region *vma)
{
	uint64_t cur = vma->start;

	while (cur < vma->end) {
		size_t i = ledger__index_at(l, cur);
		uint64_t next = vma->end;

		if (i < l->nr_regions && l->regions[i].start <= cur) {
			cur = l->regions[i].end;
			continue;
		}
		if (i < l->nr_regions && l->regions[i].start < next)
			next = l->regions[i].start;
		struct region piece = *vma;
		piece.start = cur;
		piece.end = next;
		insert_at(l, i, &piece);
		classify_at(l, i);
		cur = next;
	}
	merge_range(l, vma->start, vma->end);
}

void ledger__fault(struct ledger *l, uint64_t addr, int64_t delta_pages)
{
	const struct region *r = ledger__region_at(l, addr);

	if (!r && l->resolve) {
		struct region vma = {0};

		if (l->resolve(l->resolve_cookie, addr, &vma)) {
			if (vma.start <= addr && addr < vma.end) {
				learn_vma(l, &vma);
				r = ledger__region_at(l, addr);
			}
			free(vma.path);
		}
	}
	if (!r) {
		ledger__unattributed(l, delta_pages);
		return;
	}
	arena_apply(l, r->arena, addr & ~(AT_PAGE_SIZE - 1), (addr & ~(AT_PAGE_SIZE - 1)) + AT_PAGE_SIZE,
		    delta_pages);
}

/* A run that started before the page-table walk last applied to its arena may
 * already be in that count: apply it, and check the arena again. */
static void check_walk_overlap(struct arena *a, uint64_t first_ns)
{
	if (a && a->corrected_ns && first_ns < a->corrected_ns)
		a->needs_reconcile = true;
}

void ledger__fault_run(struct ledger *l, uint64_t lo, uint64_t hi, int64_t added_pages,
		       int64_t removed_pages, uint64_t first_ns)
{
	const struct region *first = ledger__region_at(l, lo);

	hi = AT_PAGE_ALIGN(hi);
	/* Sent late (the thread kept its run open) and overtaken by another thread's
	 * munmap: those pages were zapped with the mapping, whose arena is gone or
	 * was replaced. Nothing is left to credit. */
	if ((!first && first_ns < l->last_unmap_ns) ||
	    (first && first_ns < first->arena->created_ns)) {
		l->drift_pages += added_pages + removed_pages;
		return;
	}
	/* Usually all in one mapping: exact. Learn unknown mappings at either end
	 * first, then let distribute() share what spans several arenas. */
	if (!first || first->end < hi) {
		ledger__fault(l, lo, 0);
		if (hi - AT_PAGE_SIZE != lo)
			ledger__fault(l, hi - AT_PAGE_SIZE, 0);
		first = ledger__region_at(l, lo);
	}
	if (first && first->end >= hi) {
		arena_apply(l, first->arena, lo, hi, added_pages);
		arena_apply(l, first->arena, lo, hi, -removed_pages);
		check_walk_overlap(first->arena, first_ns);
		return;
	}
	distribute(l, lo, hi, added_pages);
	distribute(l, lo, hi, -removed_pages);
}
