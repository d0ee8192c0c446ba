/*
 * Who faulted it in: sampled user stacks turned into the three profiles.
 *  (a) resident bytes by the stack that first faulted each page in, minus what
 *      has been released since (who owns the resident memory now);
 *  (b) bytes faulted in by stack over the run;
 *  (c) region growth (mmap, brk, mremap, mprotect) by stack;
 *  (d) bytes unmapped or advised away (munmap, madvise) by stack.
 * Samples arrive with a weight (the bytes they stand for, see the BPF side), so
 * every figure is an unbiased estimate whose total matches the real total. For
 * (a) the weights of the samples that landed in a 2 MiB block shrink in
 * proportion as the block releases pages.
 */
#ifndef ARENATRACE_STACKS_H
#define ARENATRACE_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "arenatrace_records.h"
#include "ledger.h"
#include "profile.h"

struct stacks;

struct stacks_stats {
	uint64_t samples, fault_samples, growth_samples, release_samples, unwind_failures, distinct_stacks;
	uint64_t trims;         /* stacks__trim calls that evicted */
	uint64_t heap_samples;  /* --heap: sampled allocations */
};

struct stacks *stacks__new(pid_t pid, bool debuginfod);
void stacks__free(struct stacks *s);
/* Becomes one of the ledger's observers (releases shrink profile (a)). */
void stacks__attach(struct stacks *s, struct ledger *l);
/* The target mapped new files (libraries): symbols must be re-read. */
void stacks__refresh(struct stacks *s);
/* A new image (exec): old stacks stay in the profiles, addresses start afresh. */
void stacks__exec(struct stacks *s, pid_t pid);
void stacks__on_record(struct stacks *s, const struct ledger *l, const struct arenatrace_stack_record *r,
		       size_t len);
/* What on_record does once the sample is unwound (leaf first ips). */
void stacks__on_ips(struct stacks *s, const struct ledger *l, uint64_t addr, uint64_t weight_bytes,
		    uint32_t event, uint32_t sys, const uint64_t *ips, uint32_t n, bool unwind_failed);
/* Replay: takes the next IN_STACK item (on_record logs one per sample) and
 * applies it (s may be NULL: taken only). False when the item is not there. */
bool stacks__replay_item(struct stacks *s, const struct ledger *l);
/* --heap (heap.c): a sampled allocation's stack (event ARENATRACE_HEAP_STACK_EVENT,
 * addr the block, weight_bytes what it stands for) goes to the inuse profile,
 * in the arena holding the block. Returns the cell, for stacks__heap_free when
 * the block is freed, or -1. Not recorded by -o (heap mode is not recorded). */
int64_t stacks__heap_alloc(struct stacks *s, const struct ledger *l, const struct arenatrace_stack_record *r,
			   size_t len);
void stacks__heap_free(struct stacks *s, int64_t cell, int64_t bytes);
/* Fills the three profiles (symbolizing each distinct stack once). */
void stacks__export(struct stacks *s, const struct ledger *l, struct profile *p);
void stacks__stats(const struct stacks *s, struct stacks_stats *out);

/*
 * Bounds for a run of days (the agent; the tracer keeps everything). Past
 * max_stacks distinct stacks or max_cells (type, stack, arena) cells: cells of
 * arenas that are gone merge into one PROFILE_OTHER_ARENAS arena per kind;
 * samples whose bytes were all released are dropped; the lightest stacks
 * (bytes over all profiles) beyond max_stacks / 2 become one PROFILE_OTHER_STACKS
 * stack; if cells are still over the bound, every arena becomes
 * PROFILE_OTHER_ARENAS. Totals per profile and kind are kept. 0 = no bound.
 */
void stacks__trim(struct stacks *s, const struct ledger *l, size_t max_stacks, size_t max_cells);
/* Distinct stacks; cells and interned names in *nr_cells, *nr_names. */
size_t stacks__table_sizes(const struct stacks *s, size_t *nr_cells, size_t *nr_names);

#endif
