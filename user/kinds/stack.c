/* stack: the main thread's stack ("[stack]"), grown by faults below it. */
#include <stdio.h>
#include "../ledger.h"

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	(void)l;
	if (r->path && !strcmp(r->path, "[stack]")) {
		snprintf(key, keylen, "main");
		return true;
	}
	return false;
}

const struct arena_kind kind_stack = { .name = "stack", .claim = claim, .join = JOIN_BY_KEY };
