/*
 * Residency from the kernel's page tables: seeds the ledger at attach (memory that
 * was resident before we started counts) and reconciles arenas whose events could
 * not be attributed exactly. Reconciliation is a correction: what it changes is
 * reported as drift.
 */
#ifndef ARENATRACE_RESIDENCY_H
#define ARENATRACE_RESIDENCY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ledger.h"
#include "pagemap.h"

/* Reads /proc/PID/maps, thread stack pointers, the brk start and pagemap.
 * Returns 0 or -errno (message printed). */
int residency__seed(struct ledger *l, pid_t pid, struct pagemap *pm);

struct measurement {
	struct arena *arena;
	int64_t pages;
};

/* Phase 1: measures the arenas that need it (all when full) and have not changed
 * since quiet_since_ns. Returns how many measurements were written to out. */
size_t residency__measure(struct ledger *l, struct pagemap *pm, bool full, uint64_t quiet_since_ns,
			  struct measurement *out, size_t max);
/* Phase 2, after the caller drained events that raced with the walk: applies the
 * measurements of arenas that did not change since started_ns. */
void residency__apply(struct ledger *l, const struct measurement *m, size_t n, uint64_t started_ns);

#endif
