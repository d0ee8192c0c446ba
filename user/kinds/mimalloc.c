/*
 * mimalloc: memory mimalloc mapped. Evidence: mimalloc is in the process
 * (libmimalloc mapped, or mi_malloc in its executable), and private anonymous
 * memory shaped like its segments: mimalloc 2.0 maps segments (32 MiB, more for
 * huge objects) aligned to 32 MiB, at addresses it picks itself from 2 TiB up (its
 * "aligned hint" area, where nothing else gets mapped), or else maps more than it
 * needs and trims the unaligned ends. Threads' segments are reserved PROT_NONE and
 * committed piecewise with mprotect (strace of Debian's libmimalloc 2.0.9:
 * mmap(0x39a2a000000, 32 MiB, PROT_NONE, MAP_NORESERVE), then mprotect of 64 KiB,
 * 1 MiB, ... read-write), so /proc shows a segment as several VMAs.
 * Claimed: a mapping holding a whole aligned segment; a piece of a 32 MiB-aligned
 * block that private anonymous pieces cover entirely; in the hint area, a piece
 * right above mimalloc's memory (the tail of a huge segment).
 * Neighbouring segments are one arena.
 */
#include "common.h"

#define MI_SEGMENT (32 * MIB)
#define MI_HINT_BASE (2ULL << 40)
#define MI_HINT_END (32ULL << 40)

static bool piece(const struct region *p)
{
	return p && kind_private_anon(p) && !p->path;
}

static bool block_covered(const struct ledger *l, uint64_t block)
{
	uint64_t cur = block;

	while (cur < block + MI_SEGMENT) {
		const struct region *p = ledger__region_at(l, cur);

		if (!piece(p) || p->start > cur)
			return false;
		cur = p->end;
	}
	return true;
}

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t block = r->start & ~(MI_SEGMENT - 1);
	uint64_t first = (r->start + MI_SEGMENT - 1) & ~(MI_SEGMENT - 1);
	const struct region *below = r->start ? ledger__region_at(l, r->start - 1) : NULL;
	bool in_hint = r->start >= MI_HINT_BASE && r->end <= MI_HINT_END;

	if (!(l->proc.allocators & ALLOC_MIMALLOC) || !piece(r))
		return false;
	if (first + MI_SEGMENT <= r->end ||   /* holds a whole aligned segment */
	    block_covered(l, block) ||
	    (in_hint && below && below->end == r->start && below->arena &&
	     !strcmp(below->arena->kind->name, "mimalloc"))) {
		kind_run_key(r, l, "mimalloc", key, keylen);
		return true;
	}
	return false;
}

const struct arena_kind kind_mimalloc = { .name = "mimalloc", .claim = claim, .join = JOIN_ADJACENT };
