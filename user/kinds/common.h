/* Evidence helpers shared by the allocator kinds in user/kinds/. */
#ifndef ARENATRACE_KINDS_COMMON_H
#define ARENATRACE_KINDS_COMMON_H

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "../allocators.h"
#include "../ledger.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)

/* Private anonymous memory an allocator could have mapped: not a stack, not
 * shared, not a file, not [heap]/[stack]/[vdso]. */
static inline bool kind_private_anon(const struct region *r)
{
	return region__is_anon(r) && !r->shared && !(r->map_flags & (MAP_STACK | MAP_GROWSDOWN));
}

/* glibc's malloc is the one in use: libc is there and no other malloc replaced it. */
static inline bool kind_glibc_in_use(const struct ledger *l)
{
	return (l->proc.allocators & ALLOC_GLIBC) &&
	       !(l->proc.allocators & (ALLOC_JEMALLOC | ALLOC_TCMALLOC | ALLOC_MIMALLOC));
}

static inline bool kind_peek(const struct ledger *l, uint64_t addr, void *buf, size_t len)
{
	return l->proc.peek && l->proc.peek(l->proc.peek_cookie, addr, buf, len);
}

/* The key of a neighbouring region's arena of this kind, so that an allocator's
 * adjacent mappings (which the kernel merges into one VMA anyway) are one arena;
 * else the region's own start. Use with JOIN_ADJACENT. */
static inline void kind_run_key(const struct region *r, const struct ledger *l, const char *kind,
				char *key, size_t keylen)
{
	const struct region *nb[2] = {
		r->start ? ledger__region_at(l, r->start - 1) : NULL,
		ledger__region_at(l, r->end),
	};
	size_t klen = strlen(kind);

	for (int i = 0; i < 2; i++) {
		const struct region *n = nb[i];

		if (!n || !n->arena || (i == 0 ? n->end != r->start : n->start != r->end))
			continue;
		if (!strncmp(n->arena->id, kind, klen) && n->arena->id[klen] == ':') {
			snprintf(key, keylen, "%s", n->arena->id + klen + 1);
			return;
		}
	}
	snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
}

#endif
