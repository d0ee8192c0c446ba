/*
 * go_heap: the Go runtime's heap arenas (64 MiB heapArenas; goroutine stacks are
 * allocated from them too). Evidence: the process is a Go program (runtime.mallocgc
 * or a Go build id in its executable), and the mapping is private anonymous memory
 * in one of the runtime's arena hint regions: on amd64 the heap grows upward from
 * 0x00c000000000 (then 0x01c000000000, ..., 0x7fc000000000), where nothing else
 * is mapped. The runtime reserves PROT_NONE and maps parts read-write over it.
 * Keyed by the 64 MiB heap arena the mapping starts in.
 */
#include "common.h"

#define GO_ARENA (64 * MIB)
#define GO_HINT_LOW 0x00c000000000ULL   /* uintptrMask & 0x00c0<<32 */

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t low = r->start & ((1ULL << 40) - 1);

	if (!(l->proc.allocators & ALLOC_GO) || !kind_private_anon(r) || r->path ||
	    low < GO_HINT_LOW || r->start >= (0x80ULL << 40))
		return false;
	snprintf(key, keylen, "0x%llx", (unsigned long long)(r->start & ~(GO_ARENA - 1)));
	return true;
}

const struct arena_kind kind_go_heap = { .name = "go_heap", .claim = claim, .join = JOIN_BY_KEY };
