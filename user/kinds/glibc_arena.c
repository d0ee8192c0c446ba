/*
 * glibc_arena: a non-main glibc malloc arena, all of its heaps. glibc reserves
 * HEAP_MAX_SIZE (64 MiB on 64-bit) aligned to its size with PROT_NONE and opens it
 * with mprotect as the heap grows, so a heap's shape is: anonymous private mappings
 * covering exactly one 64 MiB-aligned 64 MiB block, a VMA boundary at its end, some
 * of it PROT_NONE.
 *
 * An arena chains a new heap when its heap is full. Each heap starts with glibc's
 * heap_info { ar_ptr, prev, size, mprotect_size, pagesize }, and ar_ptr (the arena's
 * malloc_state) lives in the arena's first heap. When the target's memory can be
 * read (l->proc.peek), every heap is keyed by the 64 MiB block of its ar_ptr, so
 * all heaps of one arena are one arena here; a valid heap_info also recognises a
 * heap that is fully open (no PROT_NONE left, e.g. seen at attach). Without peek,
 * or when the header does not check out, the key is the heap's own block.
 */
#include "common.h"

extern const struct arena_kind kind_glibc_arena;

static bool heap_info(const struct ledger *l, uint64_t block, uint64_t *ar_ptr, uint64_t *prev)
{
	return allocators__glibc_heap_info(l->proc.peek, l->proc.peek_cookie, block, ar_ptr, prev);
}

/* The block of the arena that owns the heap at `block`, or 0 when unknown. The
 * owner's first heap must agree: its heap_info points into itself. */
static uint64_t owner_block(const struct ledger *l, uint64_t block)
{
	uint64_t ar_ptr, prev, first_ar, first_prev, owner;

	if (!heap_info(l, block, &ar_ptr, &prev))
		return 0;
	owner = ar_ptr & ~(GLIBC_HEAP_MAX - 1);
	if (owner == block)
		return block;
	if (!heap_info(l, owner, &first_ar, &first_prev) ||
	    (first_ar & ~(GLIBC_HEAP_MAX - 1)) != owner || first_prev)
		return 0;
	return owner;
}

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t block = r->start & ~(GLIBC_HEAP_MAX - 1), owner;
	uint64_t cur = block;
	bool has_none = false;

	/* Another malloc replaced glibc's: its reservations may have this shape too
	 * (mimalloc's 32 MiB segments side by side). */
	if (!region__is_anon(r) || r->shared || r->path ||
	    (l->proc.allocators & (ALLOC_JEMALLOC | ALLOC_TCMALLOC | ALLOC_MIMALLOC)))
		return false;
	while (cur < block + GLIBC_HEAP_MAX) {
		const struct region *p = ledger__region_at(l, cur);

		if (!p || p->start != cur || !region__is_anon(p) || p->shared || p->path ||
		    (p->map_flags & MAP_STACK))
			return false;
		/* A piece some other kind has recognised is not part of a heap. */
		if (p->arena && p->arena->kind != &kind_glibc_arena && !p->arena->kind->provisional)
			return false;
		if (p->prot == PROT_NONE)
			has_none = true;
		cur = p->end;
	}
	if (cur != block + GLIBC_HEAP_MAX)
		return false;
	owner = kind_glibc_in_use(l) ? owner_block(l, block) : 0;
	if (!has_none && !owner)
		return false;
	snprintf(key, keylen, "0x%llx", (unsigned long long)(owner ? owner : block));
	return true;
}

const struct arena_kind kind_glibc_arena = { .name = "glibc_arena", .claim = claim, .join = JOIN_BY_KEY };
