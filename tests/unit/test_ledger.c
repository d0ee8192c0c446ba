/*
 * Region ledger unit tests: drive user/ledger.c with the calls the event decoder
 * makes and check the arenas' numbers exactly. No /proc, no BPF.
 * Deltas are in 4 KiB pages; addresses are made up but shaped like x86-64 ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "ledger.h"

#define PG   4096ULL
#define KiB  1024ULL
#define MiB  (1024ULL * 1024)
#define RW   (PROT_READ | PROT_WRITE)
#define ANON_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)

/* ---- helpers ------------------------------------------------------------------- */

static struct region mk(uint64_t start, uint64_t end, uint32_t prot, uint32_t flags, bool shared,
			const char *path)
{
	struct region r = {
		.start = start, .end = end, .prot = prot, .map_flags = flags,
		.shared = shared, .path = (char *)path,
	};
	return r;
}

/* mmap(MAP_PRIVATE|MAP_ANONYMOUS) as the decoder reports it. */
static void map_anon(struct ledger *l, uint64_t start, uint64_t len, uint32_t prot, uint32_t extra_flags,
		     int64_t delta)
{
	struct region r = mk(start, start + len, prot, ANON_PRIV | extra_flags, false, NULL);

	ledger__map(l, &r, delta);
}

/* A line of /proc/PID/maps. */
static void seed(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot, bool shared, const char *path)
{
	struct region r = mk(start, end, prot, 0, shared, path);

	ledger__seed_region(l, &r);
}

/* The live arena with this id; fails the test if there is none. */
static struct arena *arena(struct ledger *l, const char *id)
{
	struct arena *a = ledger__find_arena(l, id);

	if (!a)
		fail_msg("no live arena \"%s\"", id);
	return a;
}

static struct arena *arena_at(struct ledger *l, uint64_t addr)
{
	const struct region *r = ledger__region_at(l, addr);

	if (!r)
		fail_msg("no region at 0x%llx", (unsigned long long)addr);
	assert_non_null(r->arena);
	return r->arena;
}

static void assert_region(struct ledger *l, uint64_t addr, uint64_t start, uint64_t end)
{
	const struct region *r = ledger__region_at(l, addr);

	assert_non_null(r);
	assert_int_equal(r->start, start);
	assert_int_equal(r->end, end);
}

static void assert_counts(const struct arena *a, int64_t resident, int64_t peak, uint64_t faulted,
			  uint64_t released)
{
	assert_int_equal(a->resident_pages, resident);
	assert_int_equal(a->peak_resident_pages, peak);
	assert_int_equal(a->faulted_pages, faulted);
	assert_int_equal(a->released_pages, released);
}

static size_t count_arenas(const struct ledger *l)
{
	size_t n = 0;

	for (const struct arena *a = l->arenas; a; a = a->next)
		n++;
	return n;
}

static int setup(void **state)
{
	struct ledger *l = malloc(sizeof(*l));

	ledger__init(l, NULL, NULL);
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	ledger__free(*state);
	free(*state);
	return 0;
}

/* Not 64 MiB aligned, so nothing here looks like a glibc heap. */
#define A 0x7f0000100000ULL
#define B 0x7f0000900000ULL

/* ---- map, fault, unmap ---------------------------------------------------------- */

static void test_map_and_faults(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 16 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	assert_string_equal(a->kind->name, "anon");
	assert_int_equal(a->mapped_bytes, 16 * PG);
	assert_int_equal(a->nr_regions, 1);
	assert_counts(a, 0, 0, 0, 0);

	ledger__fault(l, A, 3);
	ledger__fault(l, A + 5 * PG, 2);
	assert_counts(a, 5, 5, 5, 0);

	ledger__range_delta(l, A, A + 16 * PG, -2);
	assert_counts(a, 3, 5, 5, 2);
	assert_int_equal(ledger__accounted_pages(l), 3);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->unattributed_pages, 0);
	assert_int_equal(l->drift_pages, 0);
	assert_false(l->needs_full_reconcile);
	assert_false(a->needs_reconcile);
}

static void test_map_populate_delta(void **state)
{
	struct ledger *l = *state;

	map_anon(l, A, 8 * PG, RW, MAP_POPULATE, 8);
	assert_counts(arena(l, "anon:0x7f0000100000"), 8, 8, 8, 0);
}

static void test_unmap_middle_splits(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 16 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 10);

	ledger__unmap(l, A + 4 * PG, A + 8 * PG, -3);
	assert_counts(a, 7, 10, 10, 3);
	assert_int_equal(a->mapped_bytes, 12 * PG);
	assert_int_equal(a->nr_regions, 2);
	assert_int_equal(l->nr_regions, 2);
	assert_region(l, A, A, A + 4 * PG);
	assert_null(ledger__region_at(l, A + 4 * PG));
	assert_null(ledger__region_at(l, A + 8 * PG - 1));
	assert_region(l, A + 8 * PG, A + 8 * PG, A + 16 * PG);
	assert_ptr_equal(arena_at(l, A), a);
	assert_ptr_equal(arena_at(l, A + 15 * PG), a);
	assert_false(a->gone);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->drift_pages, 0);
}

static void test_unmap_all_gone_and_collected(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 8 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 4);

	ledger__unmap(l, A, A + 8 * PG, -4);
	/* Still listed (reported once more), but no longer findable. */
	assert_true(a->gone);
	assert_counts(a, 0, 4, 4, 4);
	assert_int_equal(a->mapped_bytes, 0);
	assert_int_equal(a->nr_regions, 0);
	assert_null(ledger__find_arena(l, "anon:0x7f0000100000"));
	assert_int_equal(l->nr_regions, 0);
	assert_int_equal(l->nr_arenas, 1);
	assert_ptr_equal(l->arenas, a);
	assert_int_equal(l->drift_pages, 0);

	ledger__collect_gone(l);
	assert_int_equal(l->nr_arenas, 0);
	assert_null(l->arenas);
}

static void test_unmap_all_short_delta_is_drift(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 8 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 4);
	/* The kernel released 3 of the 4 pages we thought resident. */
	ledger__unmap(l, A, A + 8 * PG, -3);
	assert_true(a->gone);
	assert_int_equal(a->resident_pages, 0);
	assert_int_equal(l->drift_pages, 1);
}

static void test_collect_gone_keeps_live(void **state)
{
	struct ledger *l = *state;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	map_anon(l, B, 4 * PG, RW, 0, 0);
	ledger__unmap(l, A, A + 4 * PG, 0);
	ledger__collect_gone(l);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(count_arenas(l), 1);
	assert_string_equal(l->arenas->id, "anon:0x7f0000900000");
}

/* ---- mremap ----------------------------------------------------------------------- */

static void test_remap_grow_in_place(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 2);

	ledger__remap(l, A, 4 * PG, A, 12 * PG, false, 0);
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, A, A, A + 12 * PG);
	assert_int_equal(a->mapped_bytes, 12 * PG);
	assert_int_equal(a->nr_regions, 1);
	assert_counts(a, 2, 2, 2, 0);

	ledger__fault(l, A + 10 * PG, 1);
	assert_int_equal(a->resident_pages, 3);
	assert_int_equal(l->nr_arenas, 1);
}

static void test_remap_shrink_in_place(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 12 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 6);

	ledger__remap(l, A, 12 * PG, A, 4 * PG, false, -2);
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, A, A, A + 4 * PG);
	assert_null(ledger__region_at(l, A + 4 * PG));
	assert_int_equal(a->mapped_bytes, 4 * PG);
	assert_int_equal(a->nr_regions, 1);
	assert_counts(a, 4, 6, 6, 2);
	assert_false(a->gone);
}

static void test_remap_move(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 3);

	ledger__remap(l, A, 4 * PG, B, 8 * PG, false, 0);
	assert_null(ledger__region_at(l, A));
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, B, B, B + 8 * PG);
	/* Same arena, same id, same pages. */
	assert_ptr_equal(arena_at(l, B), a);
	assert_ptr_equal(arena(l, "anon:0x7f0000100000"), a);
	assert_false(a->gone);
	assert_counts(a, 3, 3, 3, 0);
	assert_int_equal(a->mapped_bytes, 8 * PG);
	assert_int_equal(a->nr_regions, 1);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->drift_pages, 0);
	assert_int_equal(l->unattributed_pages, 0);

	ledger__fault(l, B + 7 * PG, 1);
	assert_int_equal(a->resident_pages, 4);
}

static void test_remap_move_fixed_over_existing(void **state)
{
	struct ledger *l = *state;
	struct arena *x, *y;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	map_anon(l, B, 4 * PG, RW, 0, 0);
	x = arena(l, "anon:0x7f0000100000");
	y = arena(l, "anon:0x7f0000900000");
	ledger__fault(l, A, 3);
	ledger__fault(l, B, 2);

	/* mremap(A, 4p, 4p, MREMAP_MAYMOVE|MREMAP_FIXED, B): B's 2 pages are zapped. */
	ledger__remap(l, A, 4 * PG, B, 4 * PG, false, -2);
	assert_null(ledger__region_at(l, A));
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, B, B, B + 4 * PG);
	assert_ptr_equal(arena_at(l, B), x);
	assert_counts(x, 3, 3, 3, 0);
	assert_int_equal(x->mapped_bytes, 4 * PG);
	assert_false(x->gone);
	assert_true(y->gone);
	assert_counts(y, 0, 2, 2, 2);
	assert_int_equal(y->mapped_bytes, 0);
	assert_int_equal(l->drift_pages, 0);
	assert_int_equal(l->unattributed_pages, 0);

	ledger__collect_gone(l);
	assert_int_equal(l->nr_arenas, 1);
	assert_ptr_equal(l->arenas, x);
}

/* glibc realloc() of a large chunk: mremap moves it away, and the next mmap lands
 * at the old address. That is a new mapping, not the moved one. */
static void test_map_at_address_a_moved_arena_was_keyed_on(void **state)
{
	struct ledger *l = *state;
	struct arena *moved, *fresh;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	moved = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 3);
	ledger__remap(l, A, 4 * PG, B, 8 * PG, false, 0);

	map_anon(l, A, 2 * PG, RW, 0, 0);
	fresh = arena_at(l, A);
	assert_ptr_not_equal(fresh, moved);
	assert_int_equal(moved->mapped_bytes, 8 * PG);
	assert_int_equal(moved->nr_regions, 1);
	assert_int_equal(fresh->mapped_bytes, 2 * PG);
	assert_int_equal(l->nr_arenas, 2);
}

/* Same with the head of a mapping unmapped and something else mapped there. */
static void test_map_at_address_a_trimmed_arena_was_keyed_on(void **state)
{
	struct ledger *l = *state;
	struct arena *old;

	map_anon(l, A, 8 * PG, RW, 0, 0);
	old = arena(l, "anon:0x7f0000100000");
	ledger__unmap(l, A, A + 4 * PG, 0);
	map_anon(l, A, 4 * PG, PROT_READ, 0, 0);
	assert_ptr_not_equal(arena_at(l, A), old);
	assert_int_equal(old->mapped_bytes, 4 * PG);
	assert_int_equal(l->nr_arenas, 2);
}

/* ---- brk -------------------------------------------------------------------------- */

#define H 0x555555559000ULL

static void test_brk(void **state)
{
	struct ledger *l = *state;
	struct arena *h;

	/* brk(0): learns where the heap starts; nothing mapped yet. */
	ledger__brk(l, H, 0);
	assert_int_equal(l->brk_start, H);
	assert_int_equal(l->brk_end, H);
	assert_int_equal(l->nr_regions, 0);
	assert_int_equal(l->nr_arenas, 0);
	assert_int_equal(l->unattributed_pages, 0);

	ledger__brk(l, H + 0x21000, 0);
	assert_int_equal(l->brk_end, H + 0x21000);
	h = arena(l, "heap:main");
	assert_string_equal(h->kind->name, "heap");
	assert_int_equal(h->mapped_bytes, 0x21000);
	assert_string_equal(ledger__region_at(l, H)->path, "[heap]");
	ledger__fault(l, H, 5);

	/* An unaligned break rounds up; the extension joins the same region. */
	ledger__brk(l, H + 0x41010, 0);
	assert_int_equal(l->brk_end, H + 0x42000);
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, H, H, H + 0x42000);
	assert_int_equal(h->mapped_bytes, 0x42000);
	assert_int_equal(h->nr_regions, 1);
	ledger__fault(l, H + 0x30000, 4);
	assert_counts(h, 9, 9, 9, 0);

	/* Shrink: trimmed pages are released. */
	ledger__brk(l, H + 0x21000, -4);
	assert_int_equal(l->brk_end, H + 0x21000);
	assert_region(l, H, H, H + 0x21000);
	assert_null(ledger__region_at(l, H + 0x21000));
	assert_int_equal(h->mapped_bytes, 0x21000);
	assert_counts(h, 5, 9, 9, 4);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->drift_pages, 0);
}

static void test_brk_zero_does_not_flag_full_reconcile(void **state)
{
	struct ledger *l = *state;

	/* The first brk(0) changed nothing; there is nothing to reconcile. */
	ledger__brk(l, H, 0);
	assert_int_equal(l->unattributed_pages, 0);
	assert_false(l->needs_full_reconcile);
}

/* ---- glibc arenas ------------------------------------------------------------------- */

#define GB 0x7f0004000000ULL              /* 64 MiB aligned */
#define GP1 (GB - 16 * MiB)               /* where the 128 MiB reservation landed */

/* glibc new_heap(): mmap 2*HEAP_MAX PROT_NONE, trim to an aligned HEAP_MAX, open
 * the first 132 KiB with mprotect. Returns the glibc arena. */
static struct arena *glibc_new_heap(struct ledger *l)
{
	struct arena *a;

	map_anon(l, GP1, 128 * MiB, PROT_NONE, MAP_NORESERVE, 0);
	a = arena(l, "anon:0x7f0003000000");
	ledger__unmap(l, GP1, GB, 0);
	ledger__unmap(l, GB + 64 * MiB, GP1 + 128 * MiB, 0);
	assert_int_equal(a->mapped_bytes, 64 * MiB);
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, GB, GB, GB + 64 * MiB);
	/* Still an anonymous reservation until glibc opens it. */
	assert_ptr_equal(arena_at(l, GB), a);

	ledger__protect(l, GB, GB + 0x21000, RW, 0);
	return arena(l, "glibc_arena:0x7f0004000000");
}

static void test_glibc_new_heap_reclassified(void **state)
{
	struct ledger *l = *state;
	struct arena *g = glibc_new_heap(l);

	assert_string_equal(g->kind->name, "glibc_arena");
	assert_null(ledger__find_arena(l, "anon:0x7f0003000000"));
	assert_int_equal(g->mapped_bytes, 64 * MiB);
	assert_int_equal(g->nr_regions, 2);
	assert_int_equal(l->nr_regions, 2);
	assert_region(l, GB, GB, GB + 0x21000);
	assert_int_equal(ledger__region_at(l, GB)->prot, RW);
	assert_region(l, GB + 0x21000, GB + 0x21000, GB + 64 * MiB);
	assert_int_equal(ledger__region_at(l, GB + 0x21000)->prot, PROT_NONE);
	assert_ptr_equal(arena_at(l, GB), g);
	assert_ptr_equal(arena_at(l, GB + 64 * MiB - 1), g);

	ledger__fault(l, GB + PG, 1);
	ledger__fault(l, GB + 0x20000, 2);
	assert_counts(g, 3, 3, 3, 0);

	/* grow_heap(): the next step opens more; stays in the arena and merges. */
	ledger__protect(l, GB + 0x21000, GB + 0x42000, RW, 0);
	assert_ptr_equal(arena(l, "glibc_arena:0x7f0004000000"), g);
	assert_int_equal(l->nr_regions, 2);
	assert_region(l, GB, GB, GB + 0x42000);
	assert_int_equal(g->nr_regions, 2);
	assert_int_equal(g->mapped_bytes, 64 * MiB);
	ledger__fault(l, GB + 0x30000, 4);
	assert_counts(g, 7, 7, 7, 0);

	ledger__collect_gone(l);
	assert_int_equal(l->nr_arenas, 1);
	assert_ptr_equal(l->arenas, g);
	assert_int_equal(l->unattributed_pages, 0);
	assert_int_equal(l->drift_pages, 0);
}

static void test_glibc_shrink_heap_map_fixed(void **state)
{
	struct ledger *l = *state;
	struct arena *g = glibc_new_heap(l);
	const struct region *r;

	ledger__protect(l, GB + 0x21000, GB + 0x100000, RW, 0);
	ledger__fault(l, GB, 200);

	/* shrink_heap(): mmap(top, diff, PROT_NONE, MAP_FIXED|...) zaps 50 pages. */
	map_anon(l, GB + 0x80000, 0x80000, PROT_NONE, MAP_FIXED | MAP_NORESERVE, -50);
	assert_ptr_equal(arena(l, "glibc_arena:0x7f0004000000"), g);
	assert_counts(g, 150, 200, 200, 50);
	assert_false(g->needs_reconcile);
	assert_int_equal(g->mapped_bytes, 64 * MiB);
	r = ledger__region_at(l, GB + 0x80000);
	assert_non_null(r);
	assert_int_equal(r->prot, PROT_NONE);
	assert_ptr_equal(r->arena, g);
	assert_region(l, GB, GB, GB + 0x80000);
	assert_ptr_equal(arena_at(l, GB + 64 * MiB - 1), g);
	assert_int_equal(l->nr_arenas, 1 + 1 /* the gone anon one, not yet collected */);
	ledger__collect_gone(l);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->unattributed_pages, 0);
	assert_int_equal(l->drift_pages, 0);
}

/* ---- range deltas ------------------------------------------------------------------- */

static void test_range_delta_one_arena(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 8 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 6);
	/* madvise(A + 2p, 2p, MADV_DONTNEED) */
	ledger__range_delta(l, A + 2 * PG, A + 4 * PG, -2);
	assert_counts(a, 4, 6, 6, 2);
	assert_false(a->needs_reconcile);
	assert_int_equal(l->nr_regions, 1);
	assert_int_equal(l->drift_pages, 0);
	assert_false(l->needs_full_reconcile);
}

static void test_range_delta_two_arenas_shared(void **state)
{
	struct ledger *l = *state;
	struct arena *x, *y;

	map_anon(l, A, 4 * PG, RW, 0, 0);
	map_anon(l, A + 4 * PG, 8 * PG, RW, 0, 0);
	x = arena(l, "anon:0x7f0000100000");
	y = arena(l, "anon:0x7f0000104000");
	assert_ptr_not_equal(x, y);
	ledger__fault(l, A, 4);
	ledger__fault(l, A + 4 * PG, 6);

	/* 4 pages of overlap against 8: -6 splits -2 / -4. */
	ledger__range_delta(l, A, A + 12 * PG, -6);
	assert_counts(x, 2, 4, 4, 2);
	assert_counts(y, 2, 6, 6, 4);
	assert_true(x->needs_reconcile);
	assert_true(y->needs_reconcile);
	assert_int_equal(l->unattributed_pages, 0);
	assert_false(l->needs_full_reconcile);

	/* +3 splits 1 / 2. */
	ledger__range_delta(l, A, A + 12 * PG, 3);
	assert_int_equal(x->resident_pages, 3);
	assert_int_equal(y->resident_pages, 4);
}

static void test_range_delta_unmapped_is_unattributed(void **state)
{
	struct ledger *l = *state;

	ledger__range_delta(l, A, A + 4 * PG, -2);
	assert_int_equal(l->unattributed_pages, -2);
	assert_true(l->needs_full_reconcile);
}

/* ---- faults at unknown addresses ---------------------------------------------------- */

#define S 0x7ffffffde000ULL
#define S_END 0x7ffffffff000ULL

struct resolver {
	int calls;
	struct region vma;   /* what to answer; path is duplicated for the ledger */
	bool answer;
};

static bool resolve(void *cookie, uint64_t addr, struct region *r)
{
	struct resolver *res = cookie;

	(void)addr;
	res->calls++;
	if (!res->answer)
		return false;
	*r = res->vma;
	r->path = res->vma.path ? strdup(res->vma.path) : NULL;
	return true;
}

static void test_fault_resolved_stack_growth(void **state)
{
	struct ledger *l = *state;
	struct resolver res = {
		.answer = true,
		.vma = mk(S - 0x8000, S_END, RW, 0, false, "[stack]"),
	};
	struct arena *st;

	l->resolve = resolve;
	l->resolve_cookie = &res;
	seed(l, S, S_END, RW, false, "[stack]");
	ledger__seed_done(l);
	st = arena(l, "stack:main");
	ledger__fault(l, S_END - PG, 1);
	assert_int_equal(res.calls, 0);

	/* The stack grew down by 8 pages; the kernel's VMA now starts there. */
	ledger__fault(l, S - PG, 2);
	assert_int_equal(res.calls, 1);
	assert_ptr_equal(arena_at(l, S - PG), st);
	assert_counts(st, 3, 3, 3, 0);
	assert_int_equal(st->mapped_bytes, S_END - S + 0x8000);
	assert_int_equal(l->nr_regions, 1);
	assert_region(l, S, S - 0x8000, S_END);
	assert_int_equal(l->nr_arenas, 1);
	assert_int_equal(l->unattributed_pages, 0);
	assert_false(l->needs_full_reconcile);
}

static void test_fault_unresolved_unattributed(void **state)
{
	struct ledger *l = *state;
	struct resolver res = { .answer = false };

	/* No resolver at all. */
	ledger__fault(l, 0x12345000, 3);
	assert_int_equal(l->unattributed_pages, 3);
	assert_true(l->needs_full_reconcile);
	assert_int_equal(l->nr_regions, 0);
	assert_int_equal(l->nr_arenas, 0);

	/* A resolver that does not know the address either. */
	l->needs_full_reconcile = false;
	l->resolve = resolve;
	l->resolve_cookie = &res;
	ledger__fault(l, 0x12345000, 2);
	assert_int_equal(res.calls, 1);
	assert_int_equal(l->unattributed_pages, 5);
	assert_true(l->needs_full_reconcile);
	assert_int_equal(l->nr_regions, 0);

	/* A resolver answering a VMA that does not hold the address is ignored. */
	res.answer = true;
	res.vma = mk(0x20000000, 0x20004000, RW, 0, false, "[anon:x]");
	ledger__fault(l, 0x12345000, 1);
	assert_int_equal(l->unattributed_pages, 6);
	assert_int_equal(l->nr_regions, 0);
}

/* ---- reconciliation ----------------------------------------------------------------- */

static void test_correct_counts_drift(void **state)
{
	struct ledger *l = *state;
	struct arena *a;

	map_anon(l, A, 16 * PG, RW, 0, 0);
	a = arena(l, "anon:0x7f0000100000");
	ledger__fault(l, A, 5);
	a->needs_reconcile = true;

	ledger__correct(l, a, 8, 0);
	assert_int_equal(l->drift_pages, 3);
	assert_int_equal(a->resident_pages, 8);
	assert_int_equal(a->peak_resident_pages, 8);
	assert_false(a->needs_reconcile);

	ledger__correct(l, a, 2, 0);
	assert_int_equal(l->drift_pages, 9);
	assert_int_equal(a->resident_pages, 2);
	assert_int_equal(a->peak_resident_pages, 8);

	/* Releasing more than we knew of clamps at 0 and counts the shortfall. */
	ledger__range_delta(l, A, A + 16 * PG, -7);
	assert_int_equal(a->resident_pages, 0);
	assert_int_equal(a->released_pages, 7);
	assert_int_equal(l->drift_pages, 14);
	assert_true(a->needs_reconcile);
}

/* ---- seeding ------------------------------------------------------------------------ */

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"

static void test_seed_layout(void **state)
{
	struct ledger *l = *state;
	static const uint64_t sps[] = { 0x7ffff77ffe40 };
	static const char *const order[] = {
		"heap:main", "glibc_arena:0x7ffff0000000", "thread_stack:0x7ffff7000000",
		"file:" LIBC, "shmem:0x7ffff7fc0000", "stack:main",
	};
	const struct arena *a;
	size_t i;

	/* Out of address order on purpose: seeding sorts. */
	seed(l, S, S_END, RW, false, "[stack]");
	seed(l, H, H + 0x21000, RW, false, "[heap]");
	seed(l, 0x7ffff0000000, 0x7ffff0021000, RW, false, NULL);
	seed(l, 0x7ffff0021000, 0x7ffff4000000, PROT_NONE, false, NULL);
	seed(l, 0x7ffff7000000, 0x7ffff7001000, PROT_NONE, false, NULL);
	seed(l, 0x7ffff7001000, 0x7ffff7801000, RW, false, NULL);
	seed(l, 0x7ffff7900000, 0x7ffff7928000, PROT_READ, false, LIBC);
	seed(l, 0x7ffff7928000, 0x7ffff7a9d000, PROT_READ | PROT_EXEC, false, LIBC);
	seed(l, 0x7ffff7a9d000, 0x7ffff7aa1000, RW, false, LIBC);
	seed(l, 0x7ffff7fc0000, 0x7ffff7fd0000, RW, true, "/dev/zero (deleted)");
	ledger__set_thread_sps(l, sps, 1);
	assert_true(ledger__has_thread_sp(l, 0x7ffff7001000, 0x7ffff7801000));
	ledger__seed_done(l);

	assert_int_equal(l->nr_regions, 10);
	for (i = 1; i < l->nr_regions; i++)
		assert_true(l->regions[i - 1].end <= l->regions[i].start);
	assert_int_equal(l->brk_start, H);
	assert_int_equal(l->brk_end, H + 0x21000);

	assert_int_equal(l->nr_arenas, 6);
	for (i = 0, a = l->arenas; a; a = a->next, i++) {
		assert_true(i < 6);
		assert_string_equal(a->id, order[i]);
		assert_int_equal(a->resident_pages, 0);
		assert_false(a->gone);
	}
	assert_int_equal(i, 6);

	a = arena(l, "heap:main");
	assert_int_equal(a->mapped_bytes, 0x21000);
	assert_int_equal(a->nr_regions, 1);

	a = arena(l, "glibc_arena:0x7ffff0000000");
	assert_ptr_equal(arena_at(l, 0x7ffff0000000), a);
	assert_ptr_equal(arena_at(l, 0x7ffff3ffffff), a);
	assert_int_equal(a->mapped_bytes, 64 * MiB);
	assert_int_equal(a->nr_regions, 2);

	a = arena(l, "thread_stack:0x7ffff7000000");
	assert_ptr_equal(arena_at(l, 0x7ffff7000000), a); /* the guard */
	assert_ptr_equal(arena_at(l, 0x7ffff77ffe40), a);
	assert_int_equal(a->mapped_bytes, 0x801000);
	assert_int_equal(a->nr_regions, 2);

	a = arena(l, "file:" LIBC);
	assert_int_equal(a->mapped_bytes, 0x7ffff7aa1000 - 0x7ffff7900000);
	assert_int_equal(a->nr_regions, 3);

	a = arena(l, "shmem:0x7ffff7fc0000");
	assert_int_equal(a->mapped_bytes, 0x10000);
	assert_int_equal(a->nr_regions, 1);

	a = arena(l, "stack:main");
	assert_int_equal(a->mapped_bytes, S_END - S);
	assert_int_equal(a->nr_regions, 1);

	/* Events after the seed land in the seeded arenas. */
	ledger__fault(l, 0x7ffff77ff000, 2);
	ledger__fault(l, 0x7ffff0010000, 3);
	ledger__fault(l, 0x7ffff7a9e000, 1);
	assert_int_equal(arena(l, "thread_stack:0x7ffff7000000")->resident_pages, 2);
	assert_int_equal(arena(l, "glibc_arena:0x7ffff0000000")->resident_pages, 3);
	assert_int_equal(arena(l, "file:" LIBC)->resident_pages, 1);
	assert_int_equal(ledger__accounted_pages(l), 6);
	assert_int_equal(l->unattributed_pages, 0);
}

static void test_reset_forgets_mappings(void **state)
{
	struct ledger *l = *state;
	static const uint64_t sps[] = { 0x1000 };

	ledger__brk(l, H, 0);
	map_anon(l, A, 4 * PG, RW, 0, 0);
	ledger__set_thread_sps(l, sps, 1);
	ledger__reset(l);
	assert_int_equal(l->nr_regions, 0);
	assert_int_equal(l->nr_arenas, 0);
	assert_null(l->arenas);
	assert_int_equal(l->brk_start, 0);
	assert_int_equal(l->brk_end, 0);
	assert_int_equal(l->nr_thread_sps, 0);
	/* The ledger is usable again. */
	map_anon(l, A, 4 * PG, RW, 0, 0);
	assert_int_equal(l->nr_arenas, 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_map_and_faults),
		T(test_map_populate_delta),
		T(test_unmap_middle_splits),
		T(test_unmap_all_gone_and_collected),
		T(test_unmap_all_short_delta_is_drift),
		T(test_collect_gone_keeps_live),
		T(test_remap_grow_in_place),
		T(test_remap_shrink_in_place),
		T(test_remap_move),
		T(test_remap_move_fixed_over_existing),
		T(test_map_at_address_a_moved_arena_was_keyed_on),
		T(test_map_at_address_a_trimmed_arena_was_keyed_on),
		T(test_brk),
		T(test_brk_zero_does_not_flag_full_reconcile),
		T(test_glibc_new_heap_reclassified),
		T(test_glibc_shrink_heap_map_fixed),
		T(test_range_delta_one_arena),
		T(test_range_delta_two_arenas_shared),
		T(test_range_delta_unmapped_is_unattributed),
		T(test_fault_resolved_stack_growth),
		T(test_fault_unresolved_unattributed),
		T(test_correct_counts_drift),
		T(test_seed_layout),
		T(test_reset_forgets_mappings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
