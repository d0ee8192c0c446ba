/*
 * Retention analysis: which resident memory stays, since when, and what bursts
 * left behind. Fed by the ledger's observer (every resident-page change with its
 * address range) and one tick per interval; pure bookkeeping, no /proc access.
 *
 * Pages are aged per 2 MiB address block: each block keeps how many of its
 * resident pages arrived in each time bucket (buckets coarsen as they age), and
 * when it last released anything. A release takes pages from the block's oldest
 * bucket first (free lists hand back old memory as readily as new; what matters
 * here is how much of each age survives, which is exact when a block is released
 * whole and an estimate otherwise).
 */
#ifndef ARENATRACE_RETENTION_H
#define ARENATRACE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ledger.h"

struct retention;

struct burst {
	uint64_t start_ns, end_ns;     /* end_ns 0 while in progress */
	uint64_t faulted_bytes;        /* made resident during the burst */
	uint64_t released_bytes;       /* of those, released since */
	uint64_t resident_bytes;       /* of those, still resident now */
};

/* What the analysis says about one arena now. */
struct arena_retention {
	uint64_t peak_ns;              /* when peak_resident_pages was reached */
	uint64_t last_growth_ns;       /* last time it made pages resident (0 = never) */
	uint64_t released_since_peak_bytes;
	uint64_t retained_bytes;       /* resident, unreleased since faulted in, older than retain_after */
	/* Resident bytes by when they were first faulted in: age_bytes[i] for pages
	 * between age_edges_s[i] and age_edges_s[i + 1] seconds old (last: older). */
	size_t nr_ages;
	const double *age_edges_s;
	uint64_t age_bytes[16];
};

struct retention *retention__new(double retain_after_s, uint64_t start_ns);
void retention__free(struct retention *r);
/* Plugs the analysis into the ledger (as one of its observers). */
void retention__attach(struct retention *r, struct ledger *l);
/* Once per interval: burst detection against the process's baseline rate. */
void retention__tick(struct retention *r, const struct ledger *l, uint64_t now_ns);

bool retention__arena(const struct retention *r, const struct arena *a, uint64_t now_ns,
		      struct arena_retention *out);
size_t retention__nr_bursts(const struct retention *r);
/* Burst i (0 = oldest); its resident/released numbers are as of the last
 * retention__update_bursts(). */
const struct burst *retention__burst(const struct retention *r, size_t i);
/* Of what burst i made resident, the bytes still resident in arena a. */
uint64_t retention__burst_resident_in(const struct retention *r, size_t i, const struct arena *a);
/* Refreshes every burst's resident/released bytes from the arenas. */
void retention__update_bursts(struct retention *r, const struct ledger *l);
uint64_t retention__retained_total(const struct retention *r, const struct ledger *l, uint64_t now_ns);
double retention__retain_after_s(const struct retention *r);

#endif
