/* file: every mapping of one file (text, data, read-only data) is one arena. */
#include <stdio.h>
#include "../ledger.h"

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	(void)l;
	if (!region__is_file(r))
		return false;
	snprintf(key, keylen, "%s", r->path);
	return true;
}

const struct arena_kind kind_file = { .name = "file", .claim = claim, .join = JOIN_BY_KEY };
