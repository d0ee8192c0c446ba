// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heap_rjem: the allocation calls of a Rust program built with
 * tikv-jemallocator, whose jemalloc is linked into the executable with the
 * _rjem_ prefix: the global allocator calls _rjem_mallocx, _rjem_calloc,
 * _rjem_rallocx and _rjem_sdallocx. Here they are thin wrappers over libc's
 * malloc family (so libc's probes see the same calls, nested inside these:
 * each must count once). --heap must find them by the executable's symbols.
 *
 *   heap_rjem MIB      allocate MIB MiB in blocks of 1-4 KiB, keep one in 3
 *
 * Protocol as heap_burst: "READY start", then "LIVE <bytes>" and "READY burst",
 * then "LIVE 0" and "READY freed", then DONE; each READY waits for a line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "workload.h"

#define API __attribute__((noinline, used))
#define MIB (1024UL * 1024UL)

API void *_rjem_mallocx(size_t size, int flags)
{
	(void)flags;
	return malloc(size);
}

API void *_rjem_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

API void *_rjem_rallocx(void *p, size_t size, int flags)
{
	(void)flags;
	return realloc(p, size);
}

API void _rjem_sdallocx(void *p, size_t size, int flags)
{
	(void)size;
	(void)flags;
	free(p);
}

int main(int argc, char **argv)
{
	size_t mib = argc == 2 ? (size_t)atol(argv[1]) : 0, n = 0, cap;
	uint64_t live = 0;
	void **blocks;
	size_t *sizes;

	if (!mib) {
		fprintf(stderr, "usage: heap_rjem MIB\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	cap = mib * MIB / 1024 + 1;
	blocks = mmap(NULL, cap * (sizeof(void *) + sizeof(size_t)), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (blocks == MAP_FAILED)
		return 100;
	sizes = (size_t *)(blocks + cap);
	printf("READY start\n");
	wait_line();
	for (size_t done = 0; done < mib * MIB && n < cap; n++) {
		size_t size = 1024 + (n * 389) % 3072;
		void *p;

		switch (n % 3) {
		case 0:
			p = _rjem_mallocx(size, 0);
			break;
		case 1:
			p = _rjem_calloc(1, size);
			break;
		default:   /* grown from half its size, as a Vec does */
			p = _rjem_mallocx(size / 2, 0);
			if (p)
				p = _rjem_rallocx(p, size, 0);
			break;
		}
		if (!p)
			return 100;
		memset(p, 1, size);
		__asm__ volatile("" : : "r"(p) : "memory");
		blocks[n] = p;
		sizes[n] = size;
		done += size;
	}
	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 0)
			live += sizes[i];
		else
			_rjem_sdallocx(blocks[i], sizes[i], 0);
	}
	printf("LIVE %llu\n", (unsigned long long)live);
	printf("READY burst\n");
	wait_line();
	for (size_t i = 0; i < n; i += 3)
		_rjem_sdallocx(blocks[i], sizes[i], 0);
	printf("LIVE 0\n");
	printf("READY freed\n");
	wait_line();
	printf("DONE\n");
	return 0;
}
