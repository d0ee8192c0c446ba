/*
 * python_arena: a CPython obmalloc arena (small objects, <= 512 bytes). Evidence:
 * the process is CPython (libpython mapped, or PyObject_Malloc in its executable),
 * and the mapping is private anonymous read-write of exactly ARENA_SIZE, which
 * obmalloc maps one at a time with mmap (1 MiB since 3.10, 256 KiB before). Seeded
 * from /proc, neighbouring arenas show as one VMA: a whole number of arenas.
 * One arena per mapping, as obmalloc has (it unmaps an arena when it empties).
 */
#include "common.h"

#define ARENA_SIZE_NEW (1 * MIB)     /* 3.10+: radix tree, 1 MiB arenas */
#define ARENA_SIZE_OLD (256 * KIB)   /* up to 3.9 */

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t len = region__len(r);

	if (!(l->proc.allocators & ALLOC_CPYTHON) || !kind_private_anon(r) || r->path ||
	    r->prot != (PROT_READ | PROT_WRITE))
		return false;
	if (r->map_flags ? (len != ARENA_SIZE_NEW && len != ARENA_SIZE_OLD) : len % ARENA_SIZE_NEW)
		return false;
	snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
	return true;
}

const struct arena_kind kind_python_arena = { .name = "python_arena", .claim = claim, .join = JOIN_NEVER };
