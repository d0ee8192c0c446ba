/*
 * Heap mode: which functions of which files to probe. The allocator's entry
 * points (glibc's malloc family, jemalloc's plain and prefixed builds with
 * mallocx/rallocx/xallocx/sdallocx/dallocx, tcmalloc's tc_*, mimalloc's mi_*,
 * and C++ operator new/delete where an allocator library defines them) are
 * read from an ELF file's symbol tables; each gets the BPF cookie that tells
 * bpf/heap.bpf.c what it does. Aliases (one address, several names) are probed
 * once.
 */
#ifndef ARENATRACE_HEAP_ATTACH_H
#define ARENATRACE_HEAP_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct heap_probe {
	uint64_t offset;    /* file offset of the function's first instruction */
	uint64_t cookie;    /* ARENATRACE_HEAP_COOKIE(...) */
	char name[48];
};

/* The probes for path (an ELF file); *n of them, malloc'ed. Only symbols the
 * table knows; C++ operators only when cxx is set (an allocator library's own,
 * not libstdc++'s, which calls malloc). Returns NULL with *n 0 when none. */
struct heap_probe *heap_attach__scan(const char *path, bool cxx, size_t *n);
/* Whether a mapped file is worth scanning: an allocator library (libc,
 * libjemalloc, libtcmalloc, libmimalloc). The executable is always scanned. */
bool heap_attach__is_allocator_lib(const char *path);
/* Finds the libc a launched dynamic executable will load: its DT_NEEDED
 * libc.so.6 in the usual directories. Writes the path; false when none. */
bool heap_attach__find_libc(const char *exe, char *out, size_t n);

#endif
