/*
 * Arena classifier unit tests: hand-built regions in a ledger (seeded, not yet
 * classified, so neighbours are visible) and the kind/key each one gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "classifier.h"
#include "ledger.h"

#define PG   4096ULL
#define MiB  (1024ULL * 1024)
#define GiB  (1024ULL * MiB)
#define RW   (PROT_READ | PROT_WRITE)
#define ANON_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)

#define BLOCK 0x7f0004000000ULL     /* 64 MiB aligned */
#define A     0x7f0000100000ULL     /* not 64 MiB aligned */

/* ---- helpers ------------------------------------------------------------------- */

static void add(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot, uint32_t flags, bool shared,
		const char *path)
{
	struct region r = {
		.start = start, .end = end, .prot = prot, .map_flags = flags,
		.shared = shared, .path = (char *)path,
	};

	ledger__seed_region(l, &r);
}

static void add_anon(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot)
{
	add(l, start, end, prot, ANON_PRIV, false, NULL);
}

/* Classifies the region holding addr and checks "<kind>:<key>". */
static void expect(struct ledger *l, uint64_t addr, const char *want)
{
	const struct region *r = ledger__region_at(l, addr);
	const struct arena_kind *k;
	char key[ARENA_KEY_LEN], got[ARENA_KEY_LEN + 64];

	if (!r)
		fail_msg("no region at 0x%llx", (unsigned long long)addr);
	memset(key, 0, sizeof(key));
	k = classifier__classify(r, l, key, sizeof(key));
	assert_non_null(k);
	snprintf(got, sizeof(got), "%s:%s", k->name, key);
	assert_string_equal(got, want);
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

/* ---- the kind table ------------------------------------------------------------- */

static void test_kind_table(void **state)
{
	static const char *const names[] = {
		"tcmalloc", "heap", "stack", "thread_stack", "go_heap", "glibc_arena",
		"glibc_mmap_chunk", "python_arena", "mimalloc", "jemalloc", "shmem", "file", "anon",
	};
	const size_t n = sizeof(names) / sizeof(names[0]);

	(void)state;
	assert_int_equal(classifier__nr_kinds(), n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(classifier__kind(i)->name, names[i]);
		/* Only anon is provisional. */
		assert_int_equal(classifier__kind(i)->provisional, i == n - 1);
	}
	assert_null(classifier__kind(n));
}

/* ---- heap, stack ------------------------------------------------------------------ */

static void test_heap_by_path(void **state)
{
	struct ledger *l = *state;

	add(l, 0x555555559000, 0x55555557a000, RW, 0, false, "[heap]");
	expect(l, 0x555555559000, "heap:main");
}

static void test_heap_by_brk_range(void **state)
{
	struct ledger *l = *state;

	l->brk_start = 0x555555559000;
	l->brk_end = 0x55555557a000;
	add_anon(l, 0x555555559000, 0x555555560000, RW);
	add(l, 0x555555560000, 0x555555561000, RW, MAP_SHARED | MAP_ANONYMOUS, true, NULL);
	add_anon(l, 0x55555557a000, 0x55555557b000, RW);
	expect(l, 0x555555559000, "heap:main");
	/* Shared memory inside the brk range is not the heap. */
	expect(l, 0x555555560000, "shmem:0x555555560000");
	/* brk_end is exclusive. */
	expect(l, 0x55555557a000, "anon:0x55555557a000");
}

static void test_main_stack(void **state)
{
	struct ledger *l = *state;

	add(l, 0x7ffffffde000, 0x7ffffffff000, RW, 0, false, "[stack]");
	expect(l, 0x7ffffffde000, "stack:main");
}

/* ---- thread stacks ---------------------------------------------------------------- */

static void test_thread_stack_map_stack(void **state)
{
	struct ledger *l = *state;

	/* A PROT_NONE mapping right below does not move the key: MAP_STACK
	 * mappings hold their own guard. */
	add_anon(l, A - PG, A, PROT_NONE);
	add(l, A, A + 8 * MiB + PG, PROT_NONE, ANON_PRIV | MAP_STACK, false, NULL);
	expect(l, A, "thread_stack:0x7f0000100000");
	expect(l, A - PG, "anon:0x7f00000ff000");
}

static void test_thread_stack_by_sp_with_guard(void **state)
{
	struct ledger *l = *state;
	static const uint64_t sps[] = { A + PG + 8 * MiB - 0x1c0 };

	add_anon(l, A, A + PG, PROT_NONE);                  /* guard */
	add_anon(l, A + PG, A + PG + 8 * MiB, RW);          /* stack */
	ledger__set_thread_sps(l, sps, 1);
	expect(l, A, "thread_stack:0x7f0000100000");
	expect(l, A + PG, "thread_stack:0x7f0000100000");
}

static void test_thread_stack_by_sp_no_guard(void **state)
{
	struct ledger *l = *state;
	static const uint64_t sps[] = { A + 0x10000 };

	/* Below: a PROT_NONE mapping too large to be a guard. */
	add_anon(l, A - 2 * MiB, A, PROT_NONE);
	add_anon(l, A, A + 1 * MiB, RW);
	ledger__set_thread_sps(l, sps, 1);
	expect(l, A, "thread_stack:0x7f0000100000");
	expect(l, A - 2 * MiB, "anon:0x7efffff00000");
}

static void test_thread_stack_sp_not_anonymous(void **state)
{
	struct ledger *l = *state;
	static const uint64_t sps[] = { A + 0x10, A + 0x100010 };

	/* A stack pointer inside a shared or a file mapping does not make it a stack. */
	add(l, A, A + 0x100000, RW, MAP_SHARED | MAP_ANONYMOUS, true, NULL);
	add(l, A + 0x100000, A + 0x200000, RW, MAP_PRIVATE, false, "/tmp/data");
	ledger__set_thread_sps(l, sps, 2);
	expect(l, A, "shmem:0x7f0000100000");
	expect(l, A + 0x100000, "file:/tmp/data");
}

/* ---- glibc arenas ----------------------------------------------------------------- */

static void test_glibc_arena_open_heap(void **state)
{
	struct ledger *l = *state;

	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add_anon(l, BLOCK + 0x21000, BLOCK + 64 * MiB, PROT_NONE);
	expect(l, BLOCK, "glibc_arena:0x7f0004000000");
	expect(l, BLOCK + 0x21000, "glibc_arena:0x7f0004000000");
}

static void test_glibc_arena_fresh_reservation(void **state)
{
	struct ledger *l = *state;

	/* glibc's aligned_heap_area path: exactly one aligned block, all PROT_NONE. */
	add(l, BLOCK, BLOCK + 64 * MiB, PROT_NONE, ANON_PRIV | MAP_NORESERVE, false, NULL);
	expect(l, BLOCK, "glibc_arena:0x7f0004000000");
}

static void test_glibc_arena_not_1g_reservation(void **state)
{
	struct ledger *l = *state;

	/* A 1 GiB PROT_NONE reservation (a JIT, Go, a custom allocator) that happens
	 * to start on a 64 MiB boundary, also once partly opened. */
	add_anon(l, BLOCK, BLOCK + GiB, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	ledger__reset(l);
	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add_anon(l, BLOCK + 0x21000, BLOCK + GiB, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	expect(l, BLOCK + 0x21000, "anon:0x7f0004021000");
}

static void test_glibc_arena_not_fully_rw(void **state)
{
	struct ledger *l = *state;

	/* The right size and place, but nothing PROT_NONE: an ordinary mapping. */
	add_anon(l, BLOCK, BLOCK + 64 * MiB, RW);
	expect(l, BLOCK, "anon:0x7f0004000000");
	ledger__reset(l);
	/* Same, as two VMAs of different protections but none PROT_NONE. */
	add_anon(l, BLOCK, BLOCK + 32 * MiB, RW);
	add_anon(l, BLOCK + 32 * MiB, BLOCK + 64 * MiB, PROT_READ);
	expect(l, BLOCK, "anon:0x7f0004000000");
}

static void test_glibc_arena_not_misshapen(void **state)
{
	struct ledger *l = *state;

	/* Not starting at the block boundary. */
	add_anon(l, BLOCK + PG, BLOCK + 0x21000, RW);
	add_anon(l, BLOCK + 0x21000, BLOCK + 64 * MiB, PROT_NONE);
	expect(l, BLOCK + PG, "anon:0x7f0004001000");
	ledger__reset(l);
	/* A hole in the middle. */
	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add_anon(l, BLOCK + 0x22000, BLOCK + 64 * MiB, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	ledger__reset(l);
	/* Ending short of the block end. */
	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add_anon(l, BLOCK + 0x21000, BLOCK + 64 * MiB - PG, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	ledger__reset(l);
	/* 64 MiB, PROT_NONE, but not aligned. */
	add_anon(l, A, A + 64 * MiB, PROT_NONE);
	expect(l, A, "anon:0x7f0000100000");
}

static void test_glibc_arena_not_with_foreign_piece(void **state)
{
	struct ledger *l = *state;

	/* A named anonymous piece inside the block. */
	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add(l, BLOCK + 0x21000, BLOCK + 0x22000, RW, ANON_PRIV, false, "[anon:jit]");
	add_anon(l, BLOCK + 0x22000, BLOCK + 64 * MiB, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	ledger__reset(l);
	/* A MAP_STACK piece inside the block. */
	add_anon(l, BLOCK, BLOCK + 0x21000, RW);
	add(l, BLOCK + 0x21000, BLOCK + 0x121000, RW, ANON_PRIV | MAP_STACK, false, NULL);
	add_anon(l, BLOCK + 0x121000, BLOCK + 64 * MiB, PROT_NONE);
	expect(l, BLOCK, "anon:0x7f0004000000");
	expect(l, BLOCK + 0x21000, "thread_stack:0x7f0004021000");
	ledger__reset(l);
	/* Shared. */
	add(l, BLOCK, BLOCK + 0x21000, RW, MAP_SHARED | MAP_ANONYMOUS, true, NULL);
	add(l, BLOCK + 0x21000, BLOCK + 64 * MiB, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS, true, NULL);
	expect(l, BLOCK, "shmem:0x7f0004000000");
}

/* ---- shmem, file, anon ------------------------------------------------------------ */

static void test_shmem(void **state)
{
	struct ledger *l = *state;

	add(l, A, A + 0x10000, RW, MAP_SHARED | MAP_ANONYMOUS, true, NULL);
	add(l, A + 0x10000, A + 0x20000, RW, 0, true, "/dev/zero (deleted)");
	add(l, A + 0x20000, A + 0x30000, RW, MAP_SHARED, true, "/dev/shm/x");
	add(l, A + 0x30000, A + 0x40000, RW, MAP_SHARED, true, "/memfd:pool (deleted)");
	add(l, A + 0x40000, A + 0x50000, RW, 0, true, "/SYSV0000002a (deleted)");
	expect(l, A, "shmem:0x7f0000100000");
	expect(l, A + 0x10000, "shmem:0x7f0000110000");
	expect(l, A + 0x20000, "shmem:/dev/shm/x");
	expect(l, A + 0x30000, "shmem:/memfd:pool (deleted)");
	expect(l, A + 0x40000, "shmem:/SYSV0000002a (deleted)");
}

static void test_shared_regular_file_is_file(void **state)
{
	struct ledger *l = *state;

	add(l, A, A + 0x10000, RW, MAP_SHARED, true, "/var/lib/db/data.bin");
	expect(l, A, "file:/var/lib/db/data.bin");
}

static void test_private_file(void **state)
{
	struct ledger *l = *state;

	add(l, A, A + 0x28000, PROT_READ, MAP_PRIVATE, false, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	/* Private mapping of a shm file: a copy-on-write file mapping. */
	add(l, A + 0x28000, A + 0x30000, RW, MAP_PRIVATE, false, "/dev/shm/x");
	expect(l, A, "file:/usr/lib/x86_64-linux-gnu/libc.so.6");
	expect(l, A + 0x28000, "file:/dev/shm/x");
}

static void test_anon(void **state)
{
	struct ledger *l = *state;

	add_anon(l, A, A + 0x10000, RW);
	add(l, A + 0x10000, A + 0x12000, PROT_READ | PROT_EXEC, 0, false, "[vdso]");
	add(l, A + 0x12000, A + 0x20000, RW, ANON_PRIV, false, "[anon:my pool]");
	add(l, A + 0x20000, A + 0x30000, RW, ANON_PRIV, false, "");
	expect(l, A, "anon:0x7f0000100000");
	expect(l, A + 0x10000, "anon:[vdso]");
	expect(l, A + 0x12000, "anon:0x7f0000112000");
	expect(l, A + 0x20000, "anon:0x7f0000120000");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_kind_table),
		T(test_heap_by_path),
		T(test_heap_by_brk_range),
		T(test_main_stack),
		T(test_thread_stack_map_stack),
		T(test_thread_stack_by_sp_with_guard),
		T(test_thread_stack_by_sp_no_guard),
		T(test_thread_stack_sp_not_anonymous),
		T(test_glibc_arena_open_heap),
		T(test_glibc_arena_fresh_reservation),
		T(test_glibc_arena_not_1g_reservation),
		T(test_glibc_arena_not_fully_rw),
		T(test_glibc_arena_not_misshapen),
		T(test_glibc_arena_not_with_foreign_piece),
		T(test_shmem),
		T(test_shared_regular_file_is_file),
		T(test_private_file),
		T(test_anon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
