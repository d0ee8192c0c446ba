/*
 * Helpers of bpf/arenatrace_records.h that the BPF side and user space both run:
 * the mapping boundaries a fault run stops at (struct arenatrace_split).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arenatrace_records.h"

#define BLOCK 0x7f0000200000ULL /* a 2 MiB block's start */
#define PG    4096ULL

static void test_block_geometry(void **state)
{
	(void)state;
	assert_int_equal(ARENATRACE_BLOCK_PAGES, 512);
	assert_true(arenatrace_block_start(BLOCK + 300 * PG + 5) == BLOCK);
	assert_int_equal(arenatrace_block_page(BLOCK), 0);
	assert_int_equal(arenatrace_block_page(BLOCK + 5 * PG + 17), 5);
	assert_int_equal(arenatrace_block_page(BLOCK + 511 * PG), 511);
	assert_int_equal(arenatrace_block_page(BLOCK + 512 * PG), 0);
	assert_true(arenatrace_split_key_of(3, BLOCK + 7 * PG).block == BLOCK >> 21);
	assert_int_equal(arenatrace_split_key_of(3, BLOCK + 7 * PG).slot, 3);
}

static void test_split_add(void **state)
{
	struct arenatrace_split sp;

	(void)state;
	memset(&sp, 0, sizeof(sp));
	/* A block's start is no boundary inside it. */
	assert_false(arenatrace_split_add(&sp, BLOCK));
	assert_true(arenatrace_split_add(&sp, BLOCK + 256 * PG));
	/* Once only. */
	assert_false(arenatrace_split_add(&sp, BLOCK + 256 * PG));
	assert_int_equal(sp.offs[0], 256);
	assert_int_equal(sp.next, 1);
}

static void test_split_forgets_the_oldest(void **state)
{
	struct arenatrace_split sp;

	(void)state;
	memset(&sp, 0, sizeof(sp));
	for (unsigned i = 1; i <= ARENATRACE_SPLIT_OFFS; i++)
		assert_true(arenatrace_split_add(&sp, BLOCK + i * PG));
	/* Full: the eighth replaces the first, the ninth the second. */
	assert_true(arenatrace_split_add(&sp, BLOCK + 100 * PG));
	assert_int_equal(sp.offs[0], 100);
	assert_true(arenatrace_split_add(&sp, BLOCK + 101 * PG));
	assert_int_equal(sp.offs[1], 101);
	for (unsigned i = 2; i < ARENATRACE_SPLIT_OFFS; i++)
		assert_int_equal(sp.offs[i], i + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_geometry),
		cmocka_unit_test(test_split_add),
		cmocka_unit_test(test_split_forgets_the_oldest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
