/*
 * Heap mode (--heap): the allocator's live bytes per arena, measured from
 * outside the process with uprobes (bpf/heap.bpf.c), and retained = resident -
 * live. Lifecycle: heap__new (load), heap__attach_launch or heap__rescan
 * (probe the allocators in the target's files), heap__drain every poll (stack
 * samples and frees for the `inuse` profile), heap__tick every interval (each
 * arena's live_bytes from the kernel's per-page sums), heap__free.
 */
#ifndef ARENATRACE_HEAP_H
#define ARENATRACE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ledger.h"
#include "sample.h"

struct heap;
struct stacks;

struct heap_config {
	pid_t pid;
	uint64_t sample_bytes;        /* 0: exact; else one block per this many bytes */
	unsigned stack_mode;          /* 0: no stacks; else enum arenatrace_stack_mode */
	uint64_t stack_sample_bytes;  /* exact mode: one stack per this many bytes allocated */
	bool verbose;
};

struct heap_stats {
	uint64_t allocs, alloc_bytes, frees, unknown_frees, sampled, blocks_full, pages_full, lost,
		 nested, replaced;
	uint64_t probes, probe_failures;   /* uprobes attached, and those that failed */
	uint64_t unplaced_bytes;           /* live bytes in no known mapping (last tick) */
};

/* Loads the BPF side; NULL after printing why (the caller exits 1). */
struct heap *heap__new(const struct heap_config *c);
void heap__free(struct heap *h);
/* Launch mode, the command stopped right after exec: probes the executable
 * (statically linked allocators), its libc and the LD_PRELOAD'ed libraries
 * before they are mapped. Returns the number of files probed. */
int heap__attach_launch(struct heap *h);
/* Probes every allocator file in /proc/PID/maps not probed yet (attach mode,
 * and a library mapped later). Returns files newly probed, or -1 when some
 * probe failed to attach. */
int heap__rescan(struct heap *h);
/* A file was mapped: rescan at the next drain. */
void heap__maps_changed(struct heap *h);
/* The target exec'd: forget the old image's blocks, probe the new one. */
void heap__exec(struct heap *h);
/* Reads the ring (stack samples, frees) into stacks (may be NULL); rescans if due. */
int heap__drain(struct heap *h, struct stacks *stacks, const struct ledger *l);
/* Sets every arena's live_bytes and the sample's heap fields (live, retained). */
void heap__tick(struct heap *h, struct ledger *l, struct sample *s);
void heap__stats(struct heap *h, struct heap_stats *out);
/* Whether any probe is attached. */
bool heap__probing(const struct heap *h);
/* "exact" or "sampled". */
const char *heap__mode(const struct heap *h);
uint64_t heap__sample_bytes(const struct heap *h);

#endif
