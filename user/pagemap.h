/*
 * The kernel's own residency view: /proc/PID/pagemap, counted the way the RSS
 * counters count (present pages, not the shared zero page nor the huge zero page).
 * Used to seed the ledger and to reconcile it; never as the primary source.
 */
#ifndef ARENATRACE_PAGEMAP_H
#define ARENATRACE_PAGEMAP_H

#include <stdint.h>
#include <sys/types.h>

struct pagemap {
	int fd;
	uint64_t zero_pfn;        /* 0 = unknown */
	uint64_t huge_zero_pfn;   /* first pfn of the huge zero page, 0 = unknown */
};

/* Opens /proc/PID/pagemap; returns 0 or -errno. */
int pagemap__open(struct pagemap *pm, pid_t pid);
void pagemap__close(struct pagemap *pm);
/* Resident pages in [start, end), or -errno. */
int64_t pagemap__resident(struct pagemap *pm, uint64_t start, uint64_t end);

#endif
