/*
 * tcmalloc: memory gperftools' tcmalloc mapped. Evidence: tcmalloc is in the
 * process (libtcmalloc mapped, or tc_malloc in its executable). Its system
 * allocator takes memory with sbrk first and mmap when sbrk fails, so then the brk
 * area is tcmalloc's (it replaced glibc's malloc, which would have used it), and
 * so is private anonymous read-write memory of at least 1 MiB (it asks the system
 * for kMinSystemAlloc = 1 MiB or more, 8 MiB for its metadata). Neighbouring
 * mappings are one arena; the brk area is the arena "brk".
 */
#include "common.h"

#define TC_MIN (1 * MIB)

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	bool in_brk = l->brk_start && r->start >= l->brk_start && r->start < l->brk_end;

	if (!(l->proc.allocators & ALLOC_TCMALLOC) || r->shared)
		return false;
	if ((r->path && !strcmp(r->path, "[heap]")) || (in_brk && region__is_anon(r))) {
		snprintf(key, keylen, "brk");
		return true;
	}
	/* It comes first in the table: leave thread stacks and CPython's arenas. */
	if (!kind_private_anon(r) || r->path || r->prot != (PROT_READ | PROT_WRITE) ||
	    region__len(r) < TC_MIN || ledger__has_thread_sp(l, r->start, r->end) ||
	    ((l->proc.allocators & ALLOC_CPYTHON) && region__len(r) == TC_MIN))
		return false;
	kind_run_key(r, l, "tcmalloc", key, keylen);
	return true;
}

const struct arena_kind kind_tcmalloc = { .name = "tcmalloc", .claim = claim, .join = JOIN_ADJACENT };
