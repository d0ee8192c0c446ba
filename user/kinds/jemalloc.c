/*
 * jemalloc: memory jemalloc mapped. Evidence: jemalloc is in the process
 * (libjemalloc mapped, or a static copy: je_malloc, _rjem_malloc, mallctl +
 * malloc_conf), and a private anonymous read-write mapping of at least 2 MiB:
 * jemalloc 5 maps nothing smaller. What Debian's libjemalloc2 5.3 maps (strace):
 * 2 MiB-aligned base blocks of 2 and 4 MiB, then extents grown by retained chunks
 * whose sizes step through its page size classes from 2 MiB up (2, 2.5, 3, 3.5,
 * 4, 5, ... MiB), all with MAP_NORESERVE (when the kernel overcommits), never
 * unmapped (it purges with madvise). So a mapping seen being made must carry
 * MAP_NORESERVE or have a size-class length; one seeded from /proc (neighbours
 * merged into one VMA) only the size. Smaller mappings stay anon. Neighbouring
 * mappings are one arena, as the kernel shows them as one VMA anyway.
 */
#include "common.h"

#define JE_MIN (2 * MIB)

/* A jemalloc page size class >= 2 MiB: 4 classes per doubling. */
static bool size_class(uint64_t len)
{
	int lg = 63 - __builtin_clzll(len);

	return len >= JE_MIN && !(len & ((1ULL << (lg - 2)) - 1));
}

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t len = region__len(r);

	if (!(l->proc.allocators & ALLOC_JEMALLOC) || !kind_private_anon(r) || r->path ||
	    r->prot != (PROT_READ | PROT_WRITE) || len < JE_MIN)
		return false;
	if (r->map_flags && !(r->map_flags & MAP_NORESERVE) && !size_class(len))
		return false;
	kind_run_key(r, l, "jemalloc", key, keylen);
	return true;
}

const struct arena_kind kind_jemalloc = { .name = "jemalloc", .claim = claim, .join = JOIN_ADJACENT };
