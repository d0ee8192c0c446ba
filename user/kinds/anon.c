/* anon: anonymous memory no other kind recognised, one arena per mapping. It is
 * provisional: a later mprotect may reveal what it is (see ledger.c reclassify). */
#include <stdio.h>
#include "../ledger.h"

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	(void)l;
	if (r->path && r->path[0] == '[' && strncmp(r->path, "[anon", 5))
		snprintf(key, keylen, "%s", r->path);   /* [vdso] and the like */
	else
		snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
	return true;
}

const struct arena_kind kind_anon = { .name = "anon", .claim = claim, .provisional = true, .join = JOIN_NEVER };
