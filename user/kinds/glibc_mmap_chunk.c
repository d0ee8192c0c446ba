/*
 * glibc_mmap_chunk: a chunk glibc's malloc mapped on its own (a request at or above
 * the mmap threshold, 128 KiB to 32 MiB). Evidence: glibc is the malloc in use, the
 * mapping is private anonymous read-write, and it starts with the chunk header
 * glibc writes there: prev_size 0 and size == the mapping's length | IS_MMAPPED.
 * (memalign'ed chunks start prev_size bytes in, and say size == length - prev_size.)
 * Needs l->proc.peek; one arena per chunk.
 */
#include "common.h"

#define IS_MMAPPED 0x2ULL
#define SIZE_FLAGS 0x7ULL

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	uint64_t hdr[2], len = region__len(r);

	if (!kind_private_anon(r) || r->path || r->prot != (PROT_READ | PROT_WRITE) ||
	    !kind_glibc_in_use(l) || !kind_peek(l, r->start, hdr, sizeof(hdr)))
		return false;
	if (hdr[0]) {
		/* Aligned chunk: the header is prev_size bytes in. */
		uint64_t off = hdr[0];

		if (off >= len || (off & 15) || !kind_peek(l, r->start + off, hdr, sizeof(hdr)))
			return false;
		len -= off;
	}
	if ((hdr[1] & ~SIZE_FLAGS) != len || (hdr[1] & SIZE_FLAGS) != IS_MMAPPED)
		return false;
	snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
	return true;
}

const struct arena_kind kind_glibc_mmap_chunk = {
	.name = "glibc_mmap_chunk", .claim = claim, .join = JOIN_NEVER,
};
