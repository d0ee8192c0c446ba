/*
 * Arena classifier: decides which arena a region belongs to. Each arena kind is a
 * file in user/kinds/ exporting one `struct arena_kind`; classifier.c lists them in
 * the order they are tried. Adding an allocator = one new file + one line there.
 */
#ifndef ARENATRACE_CLASSIFIER_H
#define ARENATRACE_CLASSIFIER_H

#include <stddef.h>
#include "region.h"

struct ledger;

#define ARENA_KEY_LEN 256

struct arena_kind {
	const char *name;   /* the JSON "kind" */
	/* Claim the region (already in the ledger, neighbours visible through l):
	 * write the arena key, unique within the kind, and return true. */
	bool (*claim)(const struct region *r, const struct ledger *l, char *key, size_t keylen);
	/* A provisional kind's arenas are re-examined when their shape changes
	 * (mprotect, trims) as long as nothing was faulted in. Only anon is. */
	bool provisional;
	/* When a region's key matches a live arena's: */
	enum arena_join {
		JOIN_ADJACENT = 0, /* join if adjacent (keys derived from an address, e.g. a
				    * glibc heap's block or a thread stack's guard) */
		JOIN_BY_KEY,       /* join wherever it is (a file, the brk heap) */
		JOIN_NEVER,        /* keyed on its own start: a new mapping there is new */
	} join;
};

/* Picks the kind and key for a region; never fails (anon catches everything). */
const struct arena_kind *classifier__classify(const struct region *r, const struct ledger *l,
					      char *key, size_t keylen);
size_t classifier__nr_kinds(void);
const struct arena_kind *classifier__kind(size_t i);

#endif
