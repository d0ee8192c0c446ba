/* Growing an array in place: the one way the analysis modules do it. Running out
 * of memory in the tracer is fatal (the kernel keeps the truth; a partial ledger
 * would report wrong numbers), so it aborts with a message. */
#ifndef ARENATRACE_GROWABLE_H
#define ARENATRACE_GROWABLE_H

#include <stdio.h>
#include <stdlib.h>

/* Returns p resized so that *cap >= need elements of elem bytes (doubling). */
static inline void *growable__reserve(void *p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	*cap = *cap ? *cap * 2 : 16;
	if (*cap < need)
		*cap = need;
	p = realloc(p, *cap * elem);
	if (!p) {
		fprintf(stderr, "arenatrace: out of memory\n");
		abort();
	}
	return p;
}

#endif
