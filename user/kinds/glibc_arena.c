/*
 * glibc_arena: a non-main glibc malloc arena's heap. glibc reserves HEAP_MAX_SIZE
 * (64 MiB on 64-bit) aligned to its size with PROT_NONE and opens it with mprotect
 * as the heap grows, so the shape is: anonymous private mappings covering exactly
 * one 64 MiB-aligned 64 MiB block, a VMA boundary at its end, some of it PROT_NONE.
 * The arena key is the block's start (the heap_info address).
 */
#include <stdio.h>
#include <sys/mman.h>
#include "../ledger.h"

#define GLIBC_HEAP_MAX (64ULL << 20)

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t block = r->start & ~(GLIBC_HEAP_MAX - 1);
	uint64_t cur = block;
	bool has_none = false;

	if (!region__is_anon(r) || r->shared || r->path)
		return false;
	while (cur < block + GLIBC_HEAP_MAX) {
		const struct region *p = ledger__region_at(l, cur);

		if (!p || p->start != cur || !region__is_anon(p) || p->shared || p->path ||
		    (p->map_flags & MAP_STACK))
			return false;
		if (p->prot == PROT_NONE)
			has_none = true;
		cur = p->end;
	}
	if (cur != block + GLIBC_HEAP_MAX || !has_none)
		return false;
	snprintf(key, keylen, "0x%llx", (unsigned long long)block);
	return true;
}

const struct arena_kind kind_glibc_arena = { .name = "glibc_arena", .claim = claim };
