/*
 * Allocator fingerprints: allocators.c (library names, names list) and the
 * allocator kinds on hand-built regions, with the target's memory faked by a
 * peek callback that serves a few words at chosen addresses.
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

#include "allocators.h"
#include "classifier.h"
#include "ledger.h"

#define PG   4096ULL
#define MiB  (1024ULL * 1024)
#define RW   (PROT_READ | PROT_WRITE)
#define ANON_PRIV (MAP_PRIVATE | MAP_ANONYMOUS)

/* ---- fake target memory ----------------------------------------------------------- */

struct word {
	uint64_t addr, val;
};
static struct word mem[32];
static size_t nmem;

static void poke(uint64_t addr, uint64_t val)
{
	mem[nmem++] = (struct word){ addr, val };
}

/* Reads whole words; a word nobody poked reads 0; 0xdead0000... is unmapped. */
static bool fake_peek(void *cookie, uint64_t addr, void *buf, size_t len)
{
	(void)cookie;
	if ((addr >> 32) == 0xdead)
		return false;
	for (size_t off = 0; off < len; off += 8) {
		uint64_t v = 0;

		for (size_t i = 0; i < nmem; i++)
			if (mem[i].addr == addr + off)
				v = mem[i].val;
		memcpy((char *)buf + off, &v, 8);
	}
	return true;
}

static int setup(void **state)
{
	struct ledger *l = malloc(sizeof(*l));

	ledger__init(l, NULL, NULL);
	l->proc.allocators = ALLOC_GLIBC;
	l->proc.peek = fake_peek;
	nmem = 0;
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	ledger__free(*state);
	free(*state);
	return 0;
}

static void add(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot, uint32_t flags,
		const char *path)
{
	struct region r = { .start = start, .end = end, .prot = prot, .map_flags = flags, .path = (char *)path };

	ledger__seed_region(l, &r);
}

static void expect(struct ledger *l, uint64_t addr, const char *want)
{
	const struct region *r = ledger__region_at(l, addr);
	const struct arena_kind *k;
	char key[ARENA_KEY_LEN], got[ARENA_KEY_LEN + 64];

	if (!r)
		fail_msg("no region at 0x%llx", (unsigned long long)addr);
	k = classifier__classify(r, l, key, sizeof(key));
	snprintf(got, sizeof(got), "%s:%s", k->name, key);
	assert_string_equal(got, want);
}

/* ---- allocators.c ------------------------------------------------------------------- */

static void test_from_path(void **state)
{
	(void)state;
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"), ALLOC_JEMALLOC);
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5.9"),
			 ALLOC_TCMALLOC);
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libmimalloc.so.2.0"), ALLOC_MIMALLOC);
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"), ALLOC_CPYTHON);
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libc.so.6"), ALLOC_GLIBC);
	assert_int_equal(allocators__from_path("/usr/lib/x86_64-linux-gnu/libcap.so.2"), 0);
	assert_int_equal(allocators__from_path("/home/u/libjemalloc/notes.txt"), 0);
	assert_int_equal(allocators__from_path("[heap]"), 0);
	assert_int_equal(allocators__from_path(NULL), 0);
}

static void test_names(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(allocators__names(ALLOC_GLIBC | ALLOC_JEMALLOC, buf, sizeof(buf)), "glibc,jemalloc");
	assert_string_equal(allocators__names(0, buf, sizeof(buf)), "");
	assert_string_equal(allocators__names(ALLOC_GO | ALLOC_CPYTHON, buf, sizeof(buf)), "go,cpython");
}

static void test_from_elf_not_elf(void **state)
{
	(void)state;
	assert_int_equal(allocators__from_elf("/nonexistent"), 0);
	assert_int_equal(allocators__from_elf("/etc/hostname"), 0);
}

/* ---- glibc ---------------------------------------------------------------------------- */

#define H1 0x7f0004000000ULL   /* an arena's first heap */
#define H2 0x7f0010000000ULL   /* its chained heap */
#define H3 0x7f0020000000ULL   /* another arena */

static void heap_info(uint64_t block, uint64_t ar_ptr, uint64_t prev, uint64_t size)
{
	poke(block, ar_ptr);
	poke(block + 8, prev);
	poke(block + 16, size);
	poke(block + 24, size);
	poke(block + 32, PG);
}

static void add_heap(struct ledger *l, uint64_t block, uint64_t open)
{
	add(l, block, block + open, RW, ANON_PRIV, NULL);
	if (open < 64 * MiB)
		add(l, block + open, block + 64 * MiB, PROT_NONE, ANON_PRIV, NULL);
}

static void test_glibc_chained_heap_keyed_by_arena(void **state)
{
	struct ledger *l = *state;

	heap_info(H1, H1 + 0x30, 0, 64 * MiB);
	heap_info(H2, H1 + 0x30, H1, 0x21000);
	heap_info(H3, H3 + 0x30, 0, 0x21000);
	add_heap(l, H1, 64 * MiB);   /* full: no PROT_NONE left, the header says it is a heap */
	add_heap(l, H2, 0x21000);
	add_heap(l, H3, 0x21000);
	expect(l, H1, "glibc_arena:0x7f0004000000");
	expect(l, H2, "glibc_arena:0x7f0004000000");
	expect(l, H2 + 0x21000, "glibc_arena:0x7f0004000000");
	expect(l, H3, "glibc_arena:0x7f0020000000");
	assert_int_equal(classifier__kind(5)->join, JOIN_BY_KEY);
}

static void test_glibc_heap_bad_header_falls_back(void **state)
{
	struct ledger *l = *state;

	/* ar_ptr points at a block whose header does not point into itself. */
	heap_info(H2, H1 + 0x30, H1, 0x21000);
	poke(H1, 0x1234);
	add_heap(l, H1, 0x21000);
	add_heap(l, H2, 0x21000);
	expect(l, H2, "glibc_arena:0x7f0010000000");
	/* A full 64 MiB RW block without a valid header is not a heap. */
	ledger__reset(l);
	nmem = 0;
	add_heap(l, H1, 64 * MiB);
	expect(l, H1, "anon:0x7f0004000000");
	/* No peek: the shape alone, as before. */
	ledger__reset(l);
	heap_info(H2, H1 + 0x30, H1, 0x21000);
	heap_info(H1, H1 + 0x30, 0, 64 * MiB);
	l->proc.peek = NULL;
	add_heap(l, H2, 0x21000);
	expect(l, H2, "glibc_arena:0x7f0010000000");
}

static void test_glibc_mmap_chunk(void **state)
{
	struct ledger *l = *state;
	uint64_t c = 0x7f0000200000ULL, len = MiB + PG;

	poke(c + 8, len | 2);
	add(l, c, c + len, RW, ANON_PRIV, NULL);
	expect(l, c, "glibc_mmap_chunk:0x7f0000200000");
	/* Wrong size: not a chunk. */
	nmem = 0;
	poke(c + 8, MiB | 2);
	expect(l, c, "anon:0x7f0000200000");
	/* Right header, but jemalloc is the malloc in use. */
	nmem = 0;
	poke(c + 8, len | 2);
	l->proc.allocators |= ALLOC_JEMALLOC;
	expect(l, c, "anon:0x7f0000200000");
}

/* ---- others ---------------------------------------------------------------------------- */

static void test_jemalloc_runs(void **state)
{
	struct ledger *l = *state;
	uint64_t a = 0x7f0000400000ULL;

	l->proc.allocators = ALLOC_GLIBC | ALLOC_JEMALLOC;
	add(l, a, a + 2 * MiB, RW, ANON_PRIV, NULL);
	add(l, a + 2 * MiB, a + 4 * MiB + 512 * 1024, RW, ANON_PRIV, NULL);
	add(l, a + 8 * MiB, a + 8 * MiB + 64 * 1024, RW, ANON_PRIV, NULL);
	add(l, a + 9 * MiB, a + 11 * MiB, RW, ANON_PRIV | MAP_STACK, NULL);
	ledger__seed_done(l);
	assert_string_equal(ledger__region_at(l, a)->arena->id, "jemalloc:0x7f0000400000");
	/* Its neighbour joins it. */
	assert_string_equal(ledger__region_at(l, a + 2 * MiB)->arena->id, "jemalloc:0x7f0000400000");
	/* Too small for jemalloc, a stack. */
	assert_string_equal(ledger__region_at(l, a + 8 * MiB)->arena->id, "anon:0x7f0000c00000");
	assert_string_equal(ledger__region_at(l, a + 9 * MiB)->arena->kind->name, "thread_stack");
	/* Without jemalloc in the process: anon. */
	l->proc.allocators = ALLOC_GLIBC;
	expect(l, a, "anon:0x7f0000400000");
}

static void test_tcmalloc_brk_and_mmap(void **state)
{
	struct ledger *l = *state;
	uint64_t a = 0x7f0000400000ULL;

	l->proc.allocators = ALLOC_GLIBC | ALLOC_TCMALLOC;
	add(l, 0x555555559000ULL, 0x555557000000ULL, RW, 0, "[heap]");
	add(l, a, a + 8 * MiB, RW, ANON_PRIV, NULL);
	expect(l, 0x555555559000ULL, "tcmalloc:brk");
	expect(l, a, "tcmalloc:0x7f0000400000");
	l->proc.allocators = ALLOC_GLIBC;
	expect(l, 0x555555559000ULL, "heap:main");
}

static void test_mimalloc_segments(void **state)
{
	struct ledger *l = *state;
	uint64_t seg = 0x20000000000ULL + 64 * MiB;

	l->proc.allocators = ALLOC_GLIBC | ALLOC_MIMALLOC;
	add(l, seg, seg + 32 * MiB, RW, ANON_PRIV, NULL);
	add(l, 0x7f0000400000ULL, 0x7f0000400000ULL + 32 * MiB, RW, ANON_PRIV, NULL);
	expect(l, seg, "mimalloc:0x20004000000");
	expect(l, 0x7f0000400000ULL, "anon:0x7f0000400000");
	/* Two reserved segments side by side fill a 64 MiB-aligned block: they look
	 * like a glibc heap, but glibc's malloc is not the one in use. */
	ledger__reset(l);
	add(l, seg, seg + 32 * MiB, PROT_NONE, ANON_PRIV | MAP_NORESERVE, NULL);
	add(l, seg + 32 * MiB, seg + 64 * MiB, PROT_NONE, ANON_PRIV | MAP_NORESERVE, NULL);
	ledger__seed_done(l);
	assert_string_equal(ledger__region_at(l, seg)->arena->id, "mimalloc:0x20004000000");
	assert_string_equal(ledger__region_at(l, seg + 32 * MiB)->arena->id, "mimalloc:0x20004000000");
}

static void test_go_heap(void **state)
{
	struct ledger *l = *state;

	l->proc.allocators = ALLOC_GO;
	add(l, 0xc000000000ULL, 0xc000400000ULL, RW, ANON_PRIV | MAP_FIXED, NULL);
	add(l, 0xc000400000ULL, 0xc008000000ULL, PROT_NONE, ANON_PRIV, NULL);
	add(l, 0x7f0000400000ULL, 0x7f0000500000ULL, RW, ANON_PRIV, NULL);
	expect(l, 0xc000000000ULL, "go_heap:0xc000000000");
	expect(l, 0xc000400000ULL, "go_heap:0xc000000000");
	expect(l, 0xc004000000ULL, "go_heap:0xc000000000");
	expect(l, 0x7f0000400000ULL, "anon:0x7f0000400000");
	l->proc.allocators = ALLOC_GLIBC;
	expect(l, 0xc000000000ULL, "anon:0xc000000000");
}

static void test_python_arena(void **state)
{
	struct ledger *l = *state;
	uint64_t a = 0x7f0000400000ULL;

	l->proc.allocators = ALLOC_GLIBC | ALLOC_CPYTHON;
	add(l, a, a + MiB, RW, ANON_PRIV, NULL);
	add(l, a + 2 * MiB, a + 2 * MiB + 2 * MiB, RW, 0, NULL);          /* seeded: 2 arenas */
	add(l, a + 8 * MiB, a + 8 * MiB + MiB + PG, RW, ANON_PRIV, NULL);  /* a malloc'ed block */
	expect(l, a, "python_arena:0x7f0000400000");
	expect(l, a + 2 * MiB, "python_arena:0x7f0000600000");
	expect(l, a + 8 * MiB, "anon:0x7f0000c00000");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_from_path),
		T(test_names),
		T(test_from_elf_not_elf),
		T(test_glibc_chained_heap_keyed_by_arena),
		T(test_glibc_heap_bad_header_falls_back),
		T(test_glibc_mmap_chunk),
		T(test_jemalloc_runs),
		T(test_tcmalloc_brk_and_mmap),
		T(test_mimalloc_segments),
		T(test_go_heap),
		T(test_python_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
