/* Retention analysis and diagnosis on synthetic event sequences with exact answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "diagnosis.h"
#include "ledger.h"
#include "retention.h"

#define PG 4096ULL
#define MB (1ULL << 20)
#define S 1000000000ULL
#define A 0x7f0000000000ULL   /* 2 MiB aligned */
#define B 0x7f0010000000ULL

struct fixture {
	struct ledger l;
	struct retention *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	ledger__init(&f->l, NULL, NULL);
	f->r = retention__new(30.0, 0);
	retention__attach(f->r, &f->l);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ledger__free(&f->l);
	retention__free(f->r);
	free(f);
	return 0;
}

static void map_anon(struct ledger *l, uint64_t start, uint64_t len, uint64_t ts)
{
	struct region r = { .start = start, .end = start + len, .prot = PROT_READ | PROT_WRITE,
			    .map_flags = MAP_PRIVATE | MAP_ANONYMOUS };

	l->now_ns = ts;
	ledger__map(l, &r, 0);
}

/* Faults every page of [start, start+len) at time ts, one run per 2 MiB block. */
static void touch(struct ledger *l, uint64_t start, uint64_t len, uint64_t ts)
{
	l->now_ns = ts;
	for (uint64_t blk = start; blk < start + len; blk += 2 * MB) {
		uint64_t end = blk + 2 * MB < start + len ? blk + 2 * MB : start + len;

		ledger__fault_run(l, blk, end, (int64_t)((end - blk) / PG), 0, ts);
	}
}

/* One tick per second from `from` to `to` seconds. */
static void ticks(struct fixture *f, unsigned from, unsigned to)
{
	for (unsigned t = from; t <= to; t++)
		retention__tick(f->r, &f->l, t * S);
}

static struct arena *arena_at(struct ledger *l, uint64_t addr)
{
	const struct region *r = ledger__region_at(l, addr);

	assert_non_null(r);
	return r->arena;
}

static void test_retained_after_quiet_period(void **state)
{
	struct fixture *f = *state;
	struct arena_retention ar;

	map_anon(&f->l, A, 64 * MB, 1 * S);
	touch(&f->l, A, 64 * MB, 1 * S + 1);
	ticks(f, 1, 20);
	assert_true(retention__arena(f->r, arena_at(&f->l, A), 20 * S, &ar));
	assert_int_equal(ar.retained_bytes, 0); /* not old enough yet */
	ticks(f, 21, 40);
	assert_true(retention__arena(f->r, arena_at(&f->l, A), 40 * S, &ar));
	assert_int_equal(ar.retained_bytes, 64 * MB);
	assert_int_equal(ar.released_since_peak_bytes, 0);
	assert_int_equal(ar.last_growth_ns, 1 * S + 1);
	/* Resident by age: all of it between 30 and 60 s old... */
	assert_int_equal(ar.age_bytes[1], 64 * MB); /* edges 0,10,60,...: bin 1 is 10-60 s */
}

static void test_release_in_block_clears_retained_there_only(void **state)
{
	struct fixture *f = *state;
	struct arena_retention ar;

	map_anon(&f->l, A, 8 * MB, 1 * S);
	touch(&f->l, A, 8 * MB, 1 * S + 1);
	ticks(f, 1, 35);
	/* madvise(DONTNEED) of 1 MiB in the first 2 MiB block. */
	f->l.now_ns = 36 * S;
	ledger__fault_run(&f->l, A, A + MB, 0, (int64_t)(MB / PG), 36 * S);
	ticks(f, 36, 40);
	assert_true(retention__arena(f->r, arena_at(&f->l, A), 40 * S, &ar));
	/* 3 untouched blocks stay retained; the first block released since: not. */
	assert_int_equal(ar.retained_bytes, 6 * MB);
	assert_int_equal(ar.released_since_peak_bytes, MB);
	assert_int_equal(arena_at(&f->l, A)->resident_pages * PG, 7 * MB);
}

static void test_burst_detected_and_what_it_left(void **state)
{
	struct fixture *f = *state;
	const struct burst *b;

	map_anon(&f->l, A, 64 * MB, 0);
	map_anon(&f->l, B, 64 * MB, 0);
	/* A steady trickle: 64 KiB a second for 10 s. */
	for (unsigned t = 1; t <= 10; t++) {
		touch(&f->l, A + (t - 1) * 64 * 1024, 64 * 1024, t * S);
		retention__tick(f->r, &f->l, t * S + S / 2);
	}
	assert_int_equal(retention__nr_bursts(f->r), 0);
	/* The burst: 48 MiB in B during one second, then quiet. */
	touch(&f->l, B, 48 * MB, 11 * S);
	ticks(f, 11, 15);
	assert_int_equal(retention__nr_bursts(f->r), 1);
	b = retention__burst(f->r, 0);
	assert_true(b->end_ns > 0);
	assert_int_equal(b->faulted_bytes, 48 * MB);
	/* Release 16 MiB of it; 32 MiB stays, all in B. */
	f->l.now_ns = 16 * S;
	ledger__fault_run(&f->l, B, B + 16 * MB, 0, (int64_t)(16 * MB / PG), 16 * S);
	retention__update_bursts(f->r, &f->l);
	b = retention__burst(f->r, 0);
	assert_int_equal(b->resident_bytes, 32 * MB);
	assert_int_equal(b->released_bytes, 16 * MB);
	assert_int_equal(retention__burst_resident_in(f->r, 0, arena_at(&f->l, B)), 32 * MB);
	assert_int_equal(retention__burst_resident_in(f->r, 0, arena_at(&f->l, A)), 0);
}

static void test_unmap_forgets_arena_state(void **state)
{
	struct fixture *f = *state;

	map_anon(&f->l, A, 4 * MB, 1 * S);
	touch(&f->l, A, 4 * MB, 1 * S);
	f->l.now_ns = 2 * S;
	ledger__unmap(&f->l, A, A + 4 * MB, -(int64_t)(4 * MB / PG));
	ledger__collect_gone(&f->l);
	assert_int_equal(f->l.nr_arenas, 0);
	assert_int_equal(retention__retained_total(f->r, &f->l, 100 * S), 0);
}

static void test_diagnosis_names_the_arena_and_knob(void **state)
{
	struct fixture *f = *state;
	struct diagnosis d;
	char text[2048];

	/* A glibc arena: 64 MiB aligned reservation opened by mprotect. */
	struct region res = { .start = A, .end = A + 64 * MB, .prot = PROT_NONE,
			      .map_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE };
	f->l.now_ns = 1 * S;
	ledger__map(&f->l, &res, 0);
	ledger__protect(&f->l, A, A + 32 * MB, PROT_READ | PROT_WRITE, 0);
	touch(&f->l, A, 32 * MB, 2 * S);
	map_anon(&f->l, B, 2 * MB, 2 * S);
	touch(&f->l, B, 64 * 1024, 2 * S);
	ticks(f, 2, 60);
	diagnosis__make(&d, &f->l, f->r, 33 * MB, 60 * S);
	assert_int_equal(d.nr, 1);
	assert_string_equal(d.f[0].arena->kind->name, "glibc_arena");
	assert_int_equal(d.f[0].retained_bytes, 32 * MB);
	diagnosis__text(&d, 30.0, text, sizeof(text));
	assert_non_null(strstr(text, "MALLOC_ARENA_MAX"));
	assert_non_null(strstr(text, "glibc_arena:0x7f0000000000"));
	/* The small anon arena is below the threshold: not named. */
	assert_null(strstr(text, "anon:"));
}

static void test_diagnosis_says_nothing_without_evidence(void **state)
{
	struct fixture *f = *state;
	struct diagnosis d;
	char text[1024];

	map_anon(&f->l, A, 8 * MB, 1 * S);
	touch(&f->l, A, 8 * MB, 1 * S);
	ticks(f, 1, 10); /* younger than --retain-after */
	diagnosis__make(&d, &f->l, f->r, 8 * MB, 10 * S);
	assert_int_equal(d.nr, 0);
	diagnosis__text(&d, 30.0, text, sizeof(text));
	assert_non_null(strstr(text, "No arena holds much retained memory"));
	assert_null(strstr(text, "Try"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_retained_after_quiet_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_in_block_clears_retained_there_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_detected_and_what_it_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_forgets_arena_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnosis_names_the_arena_and_knob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnosis_says_nothing_without_evidence, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
