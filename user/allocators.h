/*
 * Which allocators a target uses, seen from outside: the shared libraries it
 * mapped (libjemalloc, libtcmalloc, libmimalloc, libpython) and symbols of a
 * statically linked copy in its executable (je_malloc, _rjem_malloc, mi_malloc,
 * tc_malloc, runtime.mallocgc, PyObject_Malloc). The arena kinds in user/kinds/
 * use it as evidence. Filled at seed and when a new file mapping appears.
 */
#ifndef ARENATRACE_ALLOCATORS_H
#define ARENATRACE_ALLOCATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum allocator_id {
	ALLOC_GLIBC = 1u << 0,
	ALLOC_JEMALLOC = 1u << 1,
	ALLOC_TCMALLOC = 1u << 2,
	ALLOC_MIMALLOC = 1u << 3,
	ALLOC_GO = 1u << 4,
	ALLOC_CPYTHON = 1u << 5,
};

/* Allocators evidenced by a mapped file's path (a library name). */
unsigned allocators__from_path(const char *path);
/* Allocators evidenced by the symbols of an ELF file (statically linked copies). */
unsigned allocators__from_elf(const char *path);
/* Both, for a running process: its maps and its executable. */
unsigned allocators__detect(pid_t pid);
/* glibc's HEAP_MAX_SIZE on 64-bit: a non-main arena's heaps are aligned to it. */
#define GLIBC_HEAP_MAX (64ULL << 20)
/* Whether a valid glibc heap_info { ar_ptr, prev, size, mprotect_size, pagesize }
 * starts at addr (a GLIBC_HEAP_MAX-aligned block), read with peek (the target's
 * memory, see struct process_info); gives its ar_ptr, the arena's malloc_state. */
bool allocators__glibc_heap_info(bool (*peek)(void *cookie, uint64_t addr, void *buf, size_t len),
				 void *cookie, uint64_t addr, uint64_t *ar_ptr, uint64_t *prev);
/* "glibc,jemalloc" for the meta record. */
const char *allocators__names(unsigned mask, char *buf, size_t n);

#endif
