#include "classifier.h"

extern const struct arena_kind kind_heap;
extern const struct arena_kind kind_stack;
extern const struct arena_kind kind_thread_stack;
extern const struct arena_kind kind_glibc_arena;
extern const struct arena_kind kind_glibc_mmap_chunk;
extern const struct arena_kind kind_go_heap;
extern const struct arena_kind kind_python_arena;
extern const struct arena_kind kind_tcmalloc;
extern const struct arena_kind kind_mimalloc;
extern const struct arena_kind kind_jemalloc;
extern const struct arena_kind kind_shmem;
extern const struct arena_kind kind_file;
extern const struct arena_kind kind_anon;

/* Most specific first; anon last, it claims whatever is left. The allocator kinds
 * claim only when their allocator is in the process (l->proc.allocators).
 * tcmalloc comes before heap (with tcmalloc the brk area is its); exact places,
 * shapes and headers (Go's address range, a glibc heap, a chunk header, a CPython arena's
 * size) come before the allocators that take any large anonymous mapping. */
static const struct arena_kind *const kinds[] = {
	&kind_tcmalloc,
	&kind_heap,
	&kind_stack,
	&kind_thread_stack,
	&kind_go_heap,
	&kind_glibc_arena,
	&kind_glibc_mmap_chunk,
	&kind_python_arena,
	&kind_mimalloc,
	&kind_jemalloc,
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
