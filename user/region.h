/* One mapping of the target as the ledger keeps it: a piece of a VMA that belongs
 * to exactly one arena. Neighbouring VMAs of one arena are separate regions. */
#ifndef ARENATRACE_REGION_H
#define ARENATRACE_REGION_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define AT_PAGE_SIZE 4096ULL
#define AT_PAGE_ALIGN(x) (((x) + AT_PAGE_SIZE - 1) & ~(AT_PAGE_SIZE - 1))

struct arena;

struct region {
	uint64_t start, end;    /* [start, end), page aligned */
	uint32_t prot;          /* PROT_* */
	uint32_t map_flags;     /* MAP_* of the observed mmap call; 0 when seeded from /proc */
	bool shared;            /* MAP_SHARED ('s' in maps) */
	char *path;             /* file path, "[heap]", "[stack]", "[anon:x]"; NULL = anonymous */
	struct arena *arena;    /* owner; NULL only while being classified */
};

static inline bool region__is_file(const struct region *r)
{
	return r->path && r->path[0] == '/';
}

static inline bool region__is_anon(const struct region *r)
{
	return !r->path || r->path[0] == '\0' || !strncmp(r->path, "[anon", 5);
}

static inline uint64_t region__len(const struct region *r)
{
	return r->end - r->start;
}

#endif
