/*
 * Event decoder unit tests: synthetic ring-buffer records through events__apply
 * into a ledger. pid 0, so nothing is looked up in /proc (file mappings are
 * named "/(unknown file)").
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "arenatrace_records.h"
#include "events.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PG   4096ULL
#define RW   (PROT_READ | PROT_WRITE)
#define ANON_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)
#define SEED 1000000ULL
#define A    0x7f0000100000ULL
#define B    0x7f0000900000ULL
#define H    0x555555559000ULL

/* ---- fixture and sink ------------------------------------------------------------ */

struct calls {
	int exec, exit, thread;
	char comm[64], filename[256];
	int exit_code;
	uint32_t tid;
	uint64_t ts;
};

struct fx {
	struct ledger l;
	struct event_stats st;
	struct calls calls;
	struct event_sink sink;
};

static void on_exec(void *cookie, const char *comm, const char *filename, uint64_t ts_ns)
{
	struct calls *c = cookie;

	c->exec++;
	snprintf(c->comm, sizeof(c->comm), "%s", comm);
	snprintf(c->filename, sizeof(c->filename), "%s", filename);
	c->ts = ts_ns;
}

static void on_exit_rec(void *cookie, int exit_code, uint64_t ts_ns)
{
	struct calls *c = cookie;

	c->exit++;
	c->exit_code = exit_code;
	c->ts = ts_ns;
}

static void on_thread(void *cookie, uint32_t tid, uint64_t ts_ns)
{
	struct calls *c = cookie;

	c->thread++;
	c->tid = tid;
	c->ts = ts_ns;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	ledger__init(&f->l, NULL, NULL);
	f->sink = (struct event_sink){
		.exec = on_exec, .exit = on_exit_rec, .thread = on_thread, .cookie = &f->calls,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ledger__free(&f->l);
	free(f);
	return 0;
}

/* ---- record builders ---------------------------------------------------------------- */

static void feed(struct fx *f, const void *rec, size_t len)
{
	events__apply(&f->l, 0, SEED, rec, len, &f->sink, &f->st);
}

static struct arenatrace_syscall_record sys_rec(uint64_t ts, uint32_t sys, int64_t ret, int64_t delta,
						uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
						uint64_t a4)
{
	struct arenatrace_syscall_record r = {
		.type = ARENATRACE_REC_SYSCALL, .tid = 100, .ts_ns = ts, .sys = sys,
		.args = { a0, a1, a2, a3, a4, 0 }, .ret = ret, .delta_pages = delta,
	};
	return r;
}

static void feed_sys(struct fx *f, uint64_t ts, uint32_t sys, int64_t ret, int64_t delta, uint64_t a0,
		     uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	struct arenatrace_syscall_record r = sys_rec(ts, sys, ret, delta, a0, a1, a2, a3, a4);

	feed(f, &r, sizeof(r));
}

/* mmap(hint, len, prot, flags, fd, 0) = ret */
static void feed_mmap(struct fx *f, uint64_t ts, uint64_t ret, uint64_t len, uint32_t prot, uint32_t flags,
		      int64_t delta)
{
	feed_sys(f, ts, ARENATRACE_SYS_MMAP, (int64_t)ret, delta, 0, len, prot, flags,
		 (flags & MAP_ANONYMOUS) ? (uint64_t)-1 : 3);
}

static void feed_munmap(struct fx *f, uint64_t ts, uint64_t addr, uint64_t len, int64_t delta)
{
	feed_sys(f, ts, ARENATRACE_SYS_MUNMAP, 0, delta, addr, len, 0, 0, 0);
}

static struct arenatrace_rss_record rss_rec(uint64_t ts, uint64_t addr, int64_t delta, uint32_t origin)
{
	struct arenatrace_rss_record r = {
		.type = ARENATRACE_REC_RSS, .tid = 100, .ts_ns = ts, .addr = addr,
		.delta_pages = delta, .member = 1 /* MM_ANONPAGES */, .origin = origin,
	};
	return r;
}

static void feed_rss(struct fx *f, uint64_t ts, uint64_t addr, int64_t delta, uint32_t origin)
{
	struct arenatrace_rss_record r = rss_rec(ts, addr, delta, origin);

	feed(f, &r, sizeof(r));
}

static void assert_stats(const struct event_stats *st, uint64_t records, uint64_t rss, uint64_t syscalls,
			 uint64_t skipped, uint64_t malformed)
{
	assert_int_equal(st->records, records);
	assert_int_equal(st->rss, rss);
	assert_int_equal(st->syscalls, syscalls);
	assert_int_equal(st->skipped_before_seed, skipped);
	assert_int_equal(st->malformed, malformed);
}

static struct arena *arena(struct fx *f, const char *id)
{
	struct arena *a = ledger__find_arena(&f->l, id);

	if (!a)
		fail_msg("no live arena \"%s\"", id);
	return a;
}

/* ---- syscalls and faults ------------------------------------------------------------ */

static void test_mmap_faults_munmap(void **state)
{
	struct fx *f = *state;
	struct arena *a;
	const struct region *r;

	feed_mmap(f, SEED + 10, A, 0x10000, RW, ANON_PRIV, 0);
	a = arena(f, "anon:0x7f0000100000");
	assert_int_equal(a->created_ns, SEED + 10);
	assert_int_equal(a->mapped_bytes, 0x10000);
	r = ledger__region_at(&f->l, A);
	assert_non_null(r);
	assert_int_equal(r->end, A + 0x10000);
	assert_int_equal(r->prot, RW);
	assert_int_equal(r->map_flags, ANON_PRIV);
	assert_false(r->shared);
	assert_null(r->path);

	feed_rss(f, SEED + 20, A + 0x1000, 1, ARENATRACE_ORIGIN_USER_FAULT);
	feed_rss(f, SEED + 30, A + 0x8000, 2, ARENATRACE_ORIGIN_KERNEL_FAULT);
	assert_int_equal(a->resident_pages, 3);
	assert_int_equal(a->faulted_pages, 3);
	assert_int_equal(a->last_change_ns, SEED + 30);

	/* No address: unattributed, whatever addr says. */
	feed_rss(f, SEED + 40, A, 5, ARENATRACE_ORIGIN_UNKNOWN);
	assert_int_equal(a->resident_pages, 3);
	assert_int_equal(f->l.unattributed_pages, 5);

	/* munmap with an unaligned length covers the whole last page. */
	feed_munmap(f, SEED + 50, A, 0x10000 - 100, -3);
	assert_true(a->gone);
	assert_int_equal(a->resident_pages, 0);
	assert_int_equal(a->released_pages, 3);
	assert_int_equal(f->l.nr_regions, 0);
	assert_int_equal(f->l.drift_pages, 0);
	assert_stats(&f->st, 5, 3, 2, 0, 0);
}

static void test_mmap_unaligned_len(void **state)
{
	struct fx *f = *state;

	feed_mmap(f, SEED, A, 100, RW, ANON_PRIV, 0);
	assert_int_equal(arena(f, "anon:0x7f0000100000")->mapped_bytes, PG);
	assert_int_equal(ledger__region_at(&f->l, A)->end, A + PG);
}

static void test_mmap_file_and_shared(void **state)
{
	struct fx *f = *state;
	const struct region *r;

	feed_mmap(f, SEED, A, 0x3000, PROT_READ, MAP_PRIVATE, 0);
	r = ledger__region_at(&f->l, A);
	assert_non_null(r);
	assert_string_equal(r->path, "/(unknown file)");
	assert_false(r->shared);
	assert_int_equal(arena(f, "file:/(unknown file)")->mapped_bytes, 0x3000);

	feed_mmap(f, SEED, B, 0x4000, RW, MAP_SHARED | MAP_ANONYMOUS, 0);
	r = ledger__region_at(&f->l, B);
	assert_non_null(r);
	assert_true(r->shared);
	assert_string_equal(r->path, "/dev/zero (deleted)");
	assert_int_equal(arena(f, "shmem:0x7f0000900000")->mapped_bytes, 0x4000);

	/* A MAP_SHARED file is a file arena too (pid 0: name unknown). */
	feed_mmap(f, SEED, B + 0x10000, 0x2000, RW, MAP_SHARED, 0);
	assert_int_equal(arena(f, "file:/(unknown file)")->mapped_bytes, 0x5000);
	assert_int_equal(f->l.nr_arenas, 2);
}

static void test_other_syscalls(void **state)
{
	struct fx *f = *state;
	struct arena *a, *h;

	feed_mmap(f, SEED, A, 16 * PG, RW, ANON_PRIV, 0);
	a = arena(f, "anon:0x7f0000100000");
	feed_rss(f, SEED + 1, A, 8, ARENATRACE_ORIGIN_USER_FAULT);

	/* madvise(A, 2p, MADV_DONTNEED) = 0 */
	feed_sys(f, SEED + 2, ARENATRACE_SYS_MADVISE, 0, -2, A, 2 * PG, MADV_DONTNEED, 0, 0);
	assert_int_equal(a->resident_pages, 6);
	/* mlock(A + 8p, 4p) = 0, faulting them in */
	feed_sys(f, SEED + 3, ARENATRACE_SYS_MLOCK, 0, 4, A + 8 * PG, 4 * PG, 0, 0, 0);
	assert_int_equal(a->resident_pages, 10);
	/* mprotect(A + 12p, 4p, PROT_READ) = 0 */
	feed_sys(f, SEED + 4, ARENATRACE_SYS_MPROTECT, 0, 0, A + 12 * PG, 4 * PG, PROT_READ, 0, 0);
	assert_int_equal(ledger__region_at(&f->l, A + 12 * PG)->prot, PROT_READ);
	assert_int_equal(ledger__region_at(&f->l, A)->prot, RW);
	assert_int_equal(a->nr_regions, 2);

	/* mremap(A, 16p, 16p, MREMAP_MAYMOVE|MREMAP_FIXED, B) = B */
	feed_sys(f, SEED + 5, ARENATRACE_SYS_MREMAP, (int64_t)B, 0, A, 16 * PG, 16 * PG,
		 MREMAP_MAYMOVE | MREMAP_FIXED, B);
	assert_null(ledger__region_at(&f->l, A));
	assert_ptr_equal(ledger__region_at(&f->l, B)->arena, a);
	assert_ptr_equal(ledger__region_at(&f->l, B + 15 * PG)->arena, a);
	assert_int_equal(a->resident_pages, 10);
	assert_int_equal(a->mapped_bytes, 16 * PG);

	/* mremap(B, 16p, 16p, MAYMOVE|DONTUNMAP) = A: the old range stays mapped. */
	feed_sys(f, SEED + 6, ARENATRACE_SYS_MREMAP, (int64_t)A, 0, B, 16 * PG, 16 * PG,
		 MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0);
	assert_ptr_equal(ledger__region_at(&f->l, A)->arena, a);
	assert_ptr_equal(ledger__region_at(&f->l, B)->arena, a);
	assert_int_equal(a->mapped_bytes, 32 * PG);
	assert_int_equal(a->resident_pages, 10);

	/* brk(0) = H, then brk(H + 0x21000) = H + 0x21000 */
	feed_sys(f, SEED + 7, ARENATRACE_SYS_BRK, (int64_t)H, 0, 0, 0, 0, 0, 0);
	assert_int_equal(f->l.brk_start, H);
	feed_sys(f, SEED + 8, ARENATRACE_SYS_BRK, (int64_t)(H + 0x21000), 0, H + 0x21000, 0, 0, 0, 0);
	h = arena(f, "heap:main");
	assert_int_equal(h->mapped_bytes, 0x21000);
	assert_int_equal(h->created_ns, SEED + 8);

	assert_int_equal(f->l.unattributed_pages, 0);
	assert_stats(&f->st, 9, 1, 8, 0, 0);
}

static void test_unknown_syscall_is_unattributed(void **state)
{
	struct fx *f = *state;

	feed_sys(f, SEED, 99, 0, 7, A, PG, 0, 0, 0);
	assert_int_equal(f->l.unattributed_pages, 7);
	assert_true(f->l.needs_full_reconcile);
	assert_int_equal(f->l.nr_regions, 0);
	assert_stats(&f->st, 1, 0, 1, 0, 0);
}

static void test_failed_syscall(void **state)
{
	struct fx *f = *state;
	struct arena *a;

	/* mmap() = -ENOMEM after populating 2 pages it then dropped: nothing mapped. */
	feed_mmap(f, SEED, (uint64_t)(int64_t)-ENOMEM, 16 * PG, RW, ANON_PRIV | MAP_POPULATE, 2);
	assert_int_equal(f->l.nr_regions, 0);
	assert_int_equal(f->l.nr_arenas, 0);
	assert_int_equal(f->l.unattributed_pages, 2);
	assert_true(f->l.needs_full_reconcile);

	/* munmap() = -EINVAL on a real mapping leaves it alone. */
	f->l.needs_full_reconcile = false;
	feed_mmap(f, SEED, A, 4 * PG, RW, ANON_PRIV, 0);
	a = arena(f, "anon:0x7f0000100000");
	feed_rss(f, SEED, A, 3, ARENATRACE_ORIGIN_USER_FAULT);
	feed_sys(f, SEED, ARENATRACE_SYS_MUNMAP, -EINVAL, 0, A, 4 * PG, 0, 0, 0);
	assert_false(a->gone);
	assert_int_equal(a->resident_pages, 3);
	assert_int_equal(a->mapped_bytes, 4 * PG);
	assert_int_equal(f->l.unattributed_pages, 2);
	/* A failure with no RSS change needs no reconciliation. */
	assert_false(f->l.needs_full_reconcile);
	assert_stats(&f->st, 4, 1, 3, 0, 0);
}

/* ---- seed cut-off ----------------------------------------------------------------- */

static void test_before_seed_skipped(void **state)
{
	struct fx *f = *state;
	struct arenatrace_exec_record e = { .type = ARENATRACE_REC_EXEC, .ts_ns = SEED - 5 };

	feed_mmap(f, SEED - 1, A, 4 * PG, RW, ANON_PRIV, 0);
	feed_rss(f, SEED - 1, A, 1, ARENATRACE_ORIGIN_UNKNOWN);
	feed(f, &e, sizeof(e));
	assert_int_equal(f->l.nr_regions, 0);
	assert_int_equal(f->l.unattributed_pages, 0);
	assert_int_equal(f->calls.exec, 0);
	assert_int_equal(f->l.now_ns, 0);
	assert_stats(&f->st, 3, 0, 0, 3, 0);

	/* Stamped exactly at the seed: applied. */
	feed_mmap(f, SEED, A, 4 * PG, RW, ANON_PRIV, 0);
	assert_int_equal(f->l.nr_regions, 1);
	assert_int_equal(f->l.now_ns, SEED);
	assert_stats(&f->st, 4, 0, 1, 3, 0);
}

/* ---- malformed -------------------------------------------------------------------- */

static void test_truncated_records(void **state)
{
	struct fx *f = *state;
	struct arenatrace_syscall_record s = sys_rec(SEED, ARENATRACE_SYS_MMAP, (int64_t)A, 0, 0, PG, RW,
						     ANON_PRIV, (uint64_t)-1);
	struct arenatrace_rss_record r = rss_rec(SEED, 0, 4, ARENATRACE_ORIGIN_UNKNOWN);
	struct arenatrace_exec_record e = { .type = ARENATRACE_REC_EXEC, .ts_ns = SEED };
	struct arenatrace_task_record t = { .type = ARENATRACE_REC_THREAD, .ts_ns = SEED, .tid = 7 };
	struct arenatrace_task_record x = { .type = ARENATRACE_REC_EXIT, .ts_ns = SEED };
	struct arenatrace_rss_record u = rss_rec(SEED, 0, 4, ARENATRACE_ORIGIN_UNKNOWN);

	u.type = 42;
	feed(f, &r, 0);
	feed(f, &r, 15);                  /* shorter than the common header */
	feed(f, &r, sizeof(r) - 1);
	feed(f, &s, sizeof(s) - 1);
	feed(f, &s, sizeof(struct arenatrace_rss_record)); /* an rss-sized syscall */
	feed(f, &e, sizeof(e) - 1);
	feed(f, &t, sizeof(t) - 1);
	feed(f, &x, sizeof(x) - 4);
	feed(f, &u, sizeof(u));           /* unknown type */
	assert_stats(&f->st, 9, 0, 0, 0, 9);
	assert_int_equal(f->l.nr_regions, 0);
	assert_int_equal(f->l.unattributed_pages, 0);
	assert_false(f->l.needs_full_reconcile);
	assert_int_equal(f->calls.exec + f->calls.exit + f->calls.thread, 0);

	/* Whole records still go through afterwards. */
	feed(f, &s, sizeof(s));
	feed(f, &r, sizeof(r));
	assert_int_equal(f->l.nr_regions, 1);
	assert_int_equal(f->l.unattributed_pages, 4);
	assert_stats(&f->st, 11, 1, 1, 0, 9);
}

/* ---- task records ------------------------------------------------------------------- */

static void test_exec_record(void **state)
{
	struct fx *f = *state;
	struct arenatrace_exec_record e = { .type = ARENATRACE_REC_EXEC, .tid = 100, .ts_ns = SEED + 7 };

	/* comm fills its 16 bytes with no NUL: the sink still gets a C string. */
	memcpy(e.comm, "abcdefghijklmnop", ARENATRACE_COMM_LEN);
	strcpy(e.filename, "/usr/bin/true");
	feed(f, &e, sizeof(e));
	assert_int_equal(f->calls.exec, 1);
	assert_string_equal(f->calls.comm, "abcdefghijklmnop");
	assert_string_equal(f->calls.filename, "/usr/bin/true");
	assert_int_equal(f->calls.ts, SEED + 7);

	/* A filename filling all 128 bytes is cut there. */
	memset(e.filename, 'x', ARENATRACE_PATH_LEN);
	feed(f, &e, sizeof(e));
	assert_int_equal(f->calls.exec, 2);
	assert_int_equal(strlen(f->calls.filename), ARENATRACE_PATH_LEN);
	assert_stats(&f->st, 2, 0, 0, 0, 0);
}

static void test_exit_and_thread_records(void **state)
{
	struct fx *f = *state;
	struct arenatrace_task_record t = { .type = ARENATRACE_REC_THREAD, .tid = 4242, .ts_ns = SEED + 3 };
	struct arenatrace_task_record x = {
		.type = ARENATRACE_REC_EXIT, .tid = 100, .ts_ns = SEED + 9, .exit_code = 3 << 8,
	};

	feed(f, &t, sizeof(t));
	assert_int_equal(f->calls.thread, 1);
	assert_int_equal(f->calls.tid, 4242);
	assert_int_equal(f->calls.ts, SEED + 3);
	assert_int_equal(f->calls.exit, 0);

	feed(f, &x, sizeof(x));
	assert_int_equal(f->calls.exit, 1);
	assert_int_equal(f->calls.exit_code, 0x300);
	assert_int_equal(f->calls.ts, SEED + 9);
	assert_int_equal(f->calls.thread, 1);
	assert_int_equal(f->calls.exec, 0);
	assert_stats(&f->st, 2, 0, 0, 0, 0);
}

static void test_no_sink(void **state)
{
	struct fx *f = *state;
	struct arenatrace_task_record t = { .type = ARENATRACE_REC_THREAD, .tid = 1, .ts_ns = SEED };
	struct arenatrace_exec_record e = { .type = ARENATRACE_REC_EXEC, .ts_ns = SEED };
	struct event_sink empty = { 0 };

	events__apply(&f->l, 0, SEED, &t, sizeof(t), NULL, &f->st);
	events__apply(&f->l, 0, SEED, &e, sizeof(e), &empty, &f->st);
	assert_stats(&f->st, 2, 0, 0, 0, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mmap_faults_munmap),
		T(test_mmap_unaligned_len),
		T(test_mmap_file_and_shared),
		T(test_other_syscalls),
		T(test_unknown_syscall_is_unattributed),
		T(test_failed_syscall),
		T(test_before_seed_skipped),
		T(test_truncated_records),
		T(test_exec_record),
		T(test_exit_and_thread_records),
		T(test_no_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
