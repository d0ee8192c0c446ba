/*
 * thread_stack: a thread's stack with its guard page. Seen being created, it is
 * the mmap with MAP_STACK (glibc, musl and Go's cgo threads pass it). Seeded from
 * /proc, it is the mapping that holds a thread's stack pointer, plus the PROT_NONE
 * guard right below it.
 */
#include <stdio.h>
#include <sys/mman.h>
#include "../ledger.h"

#define GUARD_MAX (1ULL << 20)

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	const struct region *above;

	if (!region__is_anon(r) || r->shared)
		return false;
	if ((r->map_flags & MAP_STACK) || ledger__has_thread_sp(l, r->start, r->end)) {
		const struct region *below = r->start ? ledger__region_at(l, r->start - 1) : NULL;
		uint64_t start = r->start;

		/* Key on the guard's start so guard and stack share one arena. */
		if (below && below->end == r->start && below->prot == PROT_NONE &&
		    region__len(below) <= GUARD_MAX && region__is_anon(below) && !below->shared &&
		    !(r->map_flags & MAP_STACK))
			start = below->start;
		snprintf(key, keylen, "0x%llx", (unsigned long long)start);
		return true;
	}
	if (r->prot == PROT_NONE && region__len(r) <= GUARD_MAX) {
		above = ledger__region_at(l, r->end);
		if (above && above->start == r->end && region__is_anon(above) && !above->shared &&
		    ledger__has_thread_sp(l, above->start, above->end)) {
			snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
			return true;
		}
	}
	return false;
}

const struct arena_kind kind_thread_stack = { .name = "thread_stack", .claim = claim };
