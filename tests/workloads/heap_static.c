// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * heap_static: heap_burst with an allocator linked into the executable (as a
 * Rust program links jemalloc, or a static build its malloc). It defines the
 * malloc family itself, so the program and libc (which calls malloc through
 * its PLT) use it; --heap must find it by the executable's symbols. A bump
 * allocator: each block has a 16-byte header with its size, nothing is reused.
 * Same arguments and protocol as heap_burst.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define ARENA_BYTES (4ULL << 30)   /* reserved, NORESERVE; only what is used is resident */

static char *arena;
static uint64_t arena_used;

static void *bump(size_t size, size_t align)
{
	uint64_t need, start, old;

	if (!arena) {
		void *p = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return NULL;
		/* Two threads racing here: one mapping wins, the other is unmapped. */
		if (!__sync_bool_compare_and_swap(&arena, NULL, (char *)p))
			munmap(p, ARENA_BYTES);
	}
	if (align < 16)
		align = 16;
	need = size + align + 16;
	old = __sync_fetch_and_add(&arena_used, need);
	if (old + need > ARENA_BYTES)
		return NULL;
	start = ((uint64_t)(uintptr_t)arena + old + 16 + align - 1) & ~(uint64_t)(align - 1);
	((uint64_t *)(uintptr_t)start)[-1] = size;
	return (void *)(uintptr_t)start;
}

/* Out of line, with a side effect: calls within this file must stay calls
 * (the tracer probes the functions, not their callers). */
#define API __attribute__((noinline, used))
static volatile uint64_t frees;

static size_t size_of(void *p)
{
	return p ? ((uint64_t *)p)[-1] : 0;
}

API void *malloc(size_t size)
{
	return bump(size, 16);
}

API void free(void *p)
{
	if (p)
		frees++;   /* never reused */
}

API void *calloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = bump(n * size, 16);   /* fresh anonymous memory is zero */
	return p;
}

API void *realloc(void *old, size_t size)
{
	void *p;

	if (!size && old)
		return NULL;   /* frees old (a no-op here), as glibc does */
	p = bump(size, 16);
	if (p && old)
		memcpy(p, old, size_of(old) < size ? size_of(old) : size);
	return p;
}

API void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(old, n * size);
}

API void *memalign(size_t align, size_t size)
{
	return bump(size, align);
}

API void *aligned_alloc(size_t align, size_t size)
{
	return bump(size, align);
}

API int posix_memalign(void **out, size_t align, size_t size)
{
	void *p = bump(size, align);

	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

API void *valloc(size_t size)
{
	return bump(size, 4096);
}

API void *pvalloc(size_t size)
{
	return bump((size + 4095) & ~(size_t)4095, 4096);
}

API size_t malloc_usable_size(void *p)
{
	return size_of(p);
}

#include "heap_burst.c"
