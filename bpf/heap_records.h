/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Heap mode (--heap): what bpf/heap.bpf.c and user/heap.c share. The allocator's
 * live bytes are kept in the kernel per 4 KiB page (of each allocation's first
 * byte) and read by user space every interval; its own ring buffer carries only
 * the stack samples of allocations and the frees of those sampled allocations
 * (for the `inuse` profile). Self-contained like arenatrace_records.h.
 */
#ifndef ARENATRACE_HEAP_RECORDS_H
#define ARENATRACE_HEAP_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/*
 * Every probed entry point has one BPF cookie saying what it does and where its
 * arguments are (0-based argument indexes):
 *   bits 0-3   class (enum arenatrace_heap_class)
 *   bits 4-7   index of the size argument
 *   bits 8-11  index of the element-count argument (calloc-like), 15 = none
 *   bits 12-15 index of the pointer argument (the old block, or posix_memalign's out pointer)
 */
enum arenatrace_heap_class {
	ARENATRACE_HEAP_ALLOC = 1,    /* returns a new block of size (times count) bytes */
	ARENATRACE_HEAP_REALLOC = 2,  /* frees ptr, returns a new block (NULL: ptr stays) */
	ARENATRACE_HEAP_MEMALIGN = 3, /* posix_memalign: 0 returned, the block in *ptr */
	ARENATRACE_HEAP_FREE = 4,     /* frees ptr; entry only */
	ARENATRACE_HEAP_XALLOCX = 5,  /* jemalloc xallocx: resizes ptr in place, returns its usable size */
};

#define ARENATRACE_HEAP_NONE 15
#define ARENATRACE_HEAP_COOKIE(cls, size, count, ptr) \
	((__u64)(cls) | ((__u64)(size) << 4) | ((__u64)(count) << 8) | ((__u64)(ptr) << 12))
#define ARENATRACE_HEAP_CLASS(c) ((__u32)(c) & 15)
#define ARENATRACE_HEAP_SIZE_ARG(c) (((__u32)(c) >> 4) & 15)
#define ARENATRACE_HEAP_COUNT_ARG(c) (((__u32)(c) >> 8) & 15)
#define ARENATRACE_HEAP_PTR_ARG(c) (((__u32)(c) >> 12) & 15)

/* Ring records. Stack samples are struct arenatrace_stack_record with this event. */
#define ARENATRACE_HEAP_STACK_EVENT 0x48   /* 'H': a sampled allocation; addr is the block */
#define ARENATRACE_HEAP_REC_FREE 0x4801

/* A stack-sampled block was freed (or reallocated): its weight leaves the profile. */
struct arenatrace_heap_free_record {
	__u32 type;           /* ARENATRACE_HEAP_REC_FREE */
	__u32 tid;
	__u64 addr;
	__u64 stack_weight;   /* the weight_bytes of the block's stack sample */
};
_Static_assert(sizeof(struct arenatrace_heap_free_record) == 24, "heap free record size");

/* A live block, keyed by its address | generation << 48. */
struct arenatrace_heap_block {
	__u64 size;           /* bytes requested */
	__u64 weight;         /* bytes it stands for in the live total (size when exact) */
	__u64 stack_weight;   /* its stack sample's weight, 0 when it has none */
	__u64 page_key;       /* the page map entry its weight was added to */
};
_Static_assert(sizeof(struct arenatrace_heap_block) == 32, "heap block size");

/* Page map keys: page number (address >> 12) | epoch << 36 | generation << 50. */
#define ARENATRACE_HEAP_PAGE_MASK ((1ULL << 36) - 1)
#define ARENATRACE_HEAP_EPOCH_SHIFT 36
#define ARENATRACE_HEAP_EPOCH_MASK ((1ULL << 14) - 1)
#define ARENATRACE_HEAP_GEN_SHIFT 50
#define ARENATRACE_HEAP_GEN_MASK ((1ULL << 14) - 1)

/* Indices of the per-CPU statistics array. */
enum arenatrace_heap_stat {
	ARENATRACE_HEAP_STAT_ALLOCS = 0,      /* allocation calls that returned a block */
	ARENATRACE_HEAP_STAT_ALLOC_BYTES,     /* bytes they asked for */
	ARENATRACE_HEAP_STAT_FREES,           /* free calls with a non-NULL pointer (realloc's old block too) */
	ARENATRACE_HEAP_STAT_UNKNOWN_FREES,   /* exact mode: frees of blocks never seen allocated */
	ARENATRACE_HEAP_STAT_SAMPLED,         /* blocks kept (every block when exact) */
	ARENATRACE_HEAP_STAT_BLOCKS_FULL,     /* a block not kept: the block map was full */
	ARENATRACE_HEAP_STAT_PAGES_FULL,      /* a block not counted: the page map was full */
	ARENATRACE_HEAP_STAT_LOST,            /* ring buffer full: a stack or free record lost */
	ARENATRACE_HEAP_STAT_NESTED,          /* calls made inside another probed call (not counted twice) */
	ARENATRACE_HEAP_STAT_REPLACED,        /* an allocation at an address still live (its free was missed) */
	ARENATRACE_HEAP_STAT_NR,
};

#endif /* ARENATRACE_HEAP_RECORDS_H */
