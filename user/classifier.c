#include "classifier.h"

extern const struct arena_kind kind_heap;
extern const struct arena_kind kind_stack;
extern const struct arena_kind kind_thread_stack;
extern const struct arena_kind kind_glibc_arena;
extern const struct arena_kind kind_shmem;
extern const struct arena_kind kind_file;
extern const struct arena_kind kind_anon;

/* Most specific first; anon last, it claims whatever is left. */
static const struct arena_kind *const kinds[] = {
	&kind_heap,
	&kind_stack,
	&kind_thread_stack,
	&kind_glibc_arena,
	&kind_shmem,
	&kind_file,
	&kind_anon,
};

const struct arena_kind *classifier__classify(const struct region *r, const struct ledger *l,
					      char *key, size_t keylen)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->claim(r, l, key, keylen))
			return kinds[i];
	return &kind_anon; /* unreachable: anon claims all */
}

size_t classifier__nr_kinds(void)
{
	return sizeof(kinds) / sizeof(kinds[0]);
}

const struct arena_kind *classifier__kind(size_t i)
{
	return i < classifier__nr_kinds() ? kinds[i] : NULL;
}
