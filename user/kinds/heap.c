/* heap: the brk area ("[heap]" in maps), glibc's main arena lives here. */
#include <stdio.h>
#include "../ledger.h"

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	bool in_brk = l->brk_start && r->start >= l->brk_start && r->start < l->brk_end;

	if ((r->path && !strcmp(r->path, "[heap]")) || (in_brk && region__is_anon(r) && !r->shared)) {
		snprintf(key, keylen, "main");
		return true;
	}
	return false;
}

const struct arena_kind kind_heap = { .name = "heap", .claim = claim, .join = JOIN_BY_KEY };
