// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * callpaths: known amounts of resident memory made through distinct call paths,
 * for the stack profiles (which function made what resident).
 *
 *   main -> touch_mmap      24 MiB: one anonymous mmap written page by page
 *   main -> big_mallocs     16 MiB: 16 mallocs of 1 MiB (glibc mmaps each), memset
 *   main -> small_mallocs    8 MiB: 32768 mallocs of 256 B (brk heap), memset
 *
 * Then it prints "READY callpaths" (memops.c's protocol: '#' lines are
 * informational) and blocks on stdin; it exits 0 on a newline or EOF. Nothing is
 * freed, so everything stays resident until then.
 *
 * Built like every workload with -O1 -g, which on x86-64 already omits frame
 * pointers; the attribute says so explicitly because the point is a stack that
 * only DWARF unwinding can walk (glibc's memset and malloc have none either).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "workload.h"

#define MIB (1024UL * 1024UL)
#define PAGE 4096UL

#define TOUCH_MMAP_BYTES    (24 * MIB)
#define BIG_MALLOC_BYTES    (16 * MIB)
#define BIG_MALLOC_SIZE     (1 * MIB)
#define SMALL_MALLOC_BYTES  (8 * MIB)
#define SMALL_MALLOC_SIZE   256UL

#define CALLPATH __attribute__((noinline, noclone, optimize("omit-frame-pointer")))

static char stdout_buf[1 << 12];
/* Where the allocations live, so that nothing is optimised away or freed. */
static void *big[BIG_MALLOC_BYTES / BIG_MALLOC_SIZE];
static void *small[SMALL_MALLOC_BYTES / SMALL_MALLOC_SIZE];
static void *mapped;

static void die(const char *what)
{
	fprintf(stderr, "callpaths: %s: %s\n", what, strerror(errno));
	exit(100);
}

CALLPATH static void touch_mmap(void)
{
	volatile char *p = mmap(NULL, TOUCH_MMAP_BYTES, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	for (size_t off = 0; off < TOUCH_MMAP_BYTES; off += PAGE)
		p[off] = 1;
	mapped = (void *)p;
}

CALLPATH static void big_mallocs(void)
{
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		big[i] = malloc(BIG_MALLOC_SIZE);
		if (!big[i])
			die("malloc");
		memset(big[i], 0x5a, BIG_MALLOC_SIZE);
	}
}

CALLPATH static void small_mallocs(void)
{
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		small[i] = malloc(SMALL_MALLOC_SIZE);
		if (!small[i])
			die("malloc");
		memset(small[i], 0xa5, SMALL_MALLOC_SIZE);
	}
}

int main(void)
{
	setvbuf(stdout, stdout_buf, _IOFBF, sizeof(stdout_buf));
	touch_mmap();
	big_mallocs();
	small_mallocs();
	/* Payload bytes; malloc adds its headers (16 B per small chunk, a page per big one). */
	printf("# touch_mmap %lu\n# big_mallocs %lu\n# small_mallocs %lu\n",
	       TOUCH_MMAP_BYTES, BIG_MALLOC_BYTES, SMALL_MALLOC_BYTES);
	printf("READY callpaths\n");
	fflush(stdout);
	wait_line();
	printf("DONE\n");
	fflush(stdout);
	return 0;
}
