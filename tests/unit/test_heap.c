/*
 * Heap mode without root: which entry points heap_attach.c finds in real
 * allocator libraries (and what their cookies say), and the heap diagnosis
 * (RSS = live + retained, per arena) on hand-built arenas.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "diagnosis.h"
#include "heap_attach.h"
#include "heap_records.h"
#include "ledger.h"

#define MiB (1024ULL * 1024)
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
#define JEMALLOC "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#define MIMALLOC "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"

static const struct heap_probe *find(const struct heap_probe *p, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	return NULL;
}

static void test_libc(void **state)
{
	const struct heap_probe *x;
	struct heap_probe *p;
	size_t n;

	(void)state;
	if (access(LIBC, R_OK)) {
		fprintf(stderr, "SKIPPED: %s is missing\n", LIBC);
		skip();
	}
	p = heap_attach__scan(LIBC, false, &n);
	assert_non_null(p);
	x = find(p, n, "malloc");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_ALLOC);
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(x->cookie), 0);
	assert_int_equal(ARENATRACE_HEAP_COUNT_ARG(x->cookie), ARENATRACE_HEAP_NONE);
	x = find(p, n, "calloc");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_COUNT_ARG(x->cookie), 0);
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(x->cookie), 1);
	x = find(p, n, "realloc");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_REALLOC);
	assert_int_equal(ARENATRACE_HEAP_PTR_ARG(x->cookie), 0);
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(x->cookie), 1);
	x = find(p, n, "reallocarray");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_COUNT_ARG(x->cookie), 1);
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(x->cookie), 2);
	x = find(p, n, "posix_memalign");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_MEMALIGN);
	assert_int_equal(ARENATRACE_HEAP_PTR_ARG(x->cookie), 0);
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(x->cookie), 2);
	assert_true(find(p, n, "free") || find(p, n, "cfree"));
	assert_true(find(p, n, "memalign") || find(p, n, "aligned_alloc"));
	/* Aliases (glibc's aligned_alloc is memalign, cfree is free) once. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			assert_int_not_equal(p[i].offset, p[k].offset);
	/* No C++ operators asked for, and libc has none anyway. */
	assert_null(find(p, n, "_Znwm"));
	free(p);
}

static void test_jemalloc(void **state)
{
	const struct heap_probe *x;
	struct heap_probe *p;
	size_t n;

	(void)state;
	if (access(JEMALLOC, R_OK)) {
		fprintf(stderr, "SKIPPED: %s is missing\n", JEMALLOC);
		skip();
	}
	p = heap_attach__scan(JEMALLOC, true, &n);
	assert_non_null(p);
	assert_non_null(find(p, n, "mallocx"));
	x = find(p, n, "rallocx");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_REALLOC);
	x = find(p, n, "xallocx");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_XALLOCX);
	x = find(p, n, "sdallocx");
	assert_non_null(x);
	assert_int_equal(ARENATRACE_HEAP_CLASS(x->cookie), ARENATRACE_HEAP_FREE);
	assert_non_null(find(p, n, "dallocx"));
	assert_non_null(find(p, n, "_Znwm"));
	assert_non_null(find(p, n, "_ZdlPvm"));
	free(p);
	/* Without cxx: no operators. */
	p = heap_attach__scan(JEMALLOC, false, &n);
	assert_null(find(p, n, "_Znwm"));
	free(p);
}

static void test_mimalloc_aliases(void **state)
{
	struct heap_probe *p;
	size_t n;
	bool malloc_or_mi;

	(void)state;
	if (access(MIMALLOC, R_OK)) {
		fprintf(stderr, "SKIPPED: %s is missing\n", MIMALLOC);
		skip();
	}
	p = heap_attach__scan(MIMALLOC, true, &n);
	assert_non_null(p);
	/* malloc and mi_malloc are one address: probed once, under either name. */
	malloc_or_mi = (find(p, n, "malloc") != NULL) != (find(p, n, "mi_malloc") != NULL);
	assert_true(malloc_or_mi);
	assert_non_null(find(p, n, "mi_heap_malloc"));
	assert_int_equal(ARENATRACE_HEAP_SIZE_ARG(find(p, n, "mi_heap_malloc")->cookie), 1);
	free(p);
}

static void test_not_elf(void **state)
{
	size_t n = 7;

	(void)state;
	assert_null(heap_attach__scan("/proc/self/status", false, &n));
	assert_int_equal(n, 0);
	assert_null(heap_attach__scan("/nonexistent", false, &n));
	assert_true(heap_attach__is_allocator_lib("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"));
	assert_true(heap_attach__is_allocator_lib("/lib/x86_64-linux-gnu/libc.so.6"));
	assert_false(heap_attach__is_allocator_lib("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
}

static void test_diagnosis(void **state)
{
	static const struct arena_kind glibc = { .name = "glibc_arena" }, file = { .name = "file" },
					heap = { .name = "heap" };
	struct arena a1 = { .id = "glibc_arena:0x7f0000000000", .kind = &glibc, .resident_pages = 40 * 256,
			    .peak_resident_pages = 41 * 256, .live_bytes = 1 * MiB };
	struct arena a2 = { .id = "file:/usr/lib/libc.so.6", .kind = &file, .resident_pages = 2 * 256 };
	/* More live than resident (allocated, not yet touched): retained 0, never negative. */
	struct arena a3 = { .id = "heap:main", .kind = &heap, .resident_pages = 256, .live_bytes = 3 * MiB };
	struct ledger l;
	struct diagnosis d;
	char text[4096];

	(void)state;
	memset(&l, 0, sizeof(l));
	l.arenas = &a1;
	a1.next = &a2;
	a2.next = &a3;
	diagnosis__make_heap(&d, &l, NULL, 43 * MiB, 4 * MiB, 0);
	assert_true(d.heap);
	assert_int_equal(d.retained_bytes, 39 * MiB);
	assert_int_equal(d.other_bytes, 2 * MiB);
	assert_int_equal(d.nr, 1);
	assert_ptr_equal(d.f[0].arena, &a1);
	assert_int_equal(d.f[0].retained_bytes, 39 * MiB);
	assert_int_equal(d.f[0].live_bytes, 1 * MiB);
	diagnosis__text(&d, 30, text, sizeof(text));
	assert_non_null(strstr(text, "RSS 43.0 MiB = live 4.0 MiB + retained 39.0 MiB"));
	assert_non_null(strstr(text, "glibc_arena:0x7f0000000000: 39.0 MiB retained = 40.0 MiB resident - 1.0 MiB live"));
	assert_non_null(strstr(text, "2.0 MiB is not allocator memory"));
	assert_non_null(strstr(text, "MALLOC_ARENA_MAX"));
	assert_null(strstr(text, "heap:main"));
	/* Attached: says the live bytes are partial. */
	d.since_attach = true;
	d.unknown_frees = 12;
	diagnosis__text(&d, 30, text, sizeof(text));
	assert_non_null(strstr(text, "only blocks allocated since the attach (12 frees"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc),
		cmocka_unit_test(test_jemalloc),
		cmocka_unit_test(test_mimalloc_aliases),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_diagnosis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
