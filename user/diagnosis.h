/*
 * The end-of-run diagnosis: the few arenas holding the most retained memory, the
 * evidence, and the allocator's own knob for it. It says nothing the numbers do
 * not show: an arena is named only when it holds at least 1 MiB and 5% of RSS
 * retained (resident, untouched by any release for longer than --retain-after).
 */
#ifndef ARENATRACE_DIAGNOSIS_H
#define ARENATRACE_DIAGNOSIS_H

#include <stddef.h>
#include <stdint.h>
#include "ledger.h"
#include "retention.h"

#define DIAGNOSIS_MAX_FINDINGS 5

struct finding {
	const struct arena *arena;
	uint64_t retained_bytes, resident_bytes, peak_bytes, released_since_peak_bytes;
	double idle_s;              /* since its last growth */
	double peak_age_s;          /* since its peak */
	const char *knob;           /* the allocator's knob, one sentence */
	uint64_t live_bytes;        /* --heap: the allocator's live bytes in it */
};

struct diagnosis {
	uint64_t rss_bytes, retained_bytes;
	size_t nr;
	struct finding f[DIAGNOSIS_MAX_FINDINGS];
	/* Same kind grouped: "12 glibc_arena arenas hold 549 MiB retained". */
	const char *top_kind;
	uint64_t top_kind_retained;
	unsigned top_kind_arenas;
	/* --heap: retained = resident - live (diagnosis__make_heap). */
	bool heap;
	uint64_t live_bytes;
	uint64_t other_bytes;       /* retained outside allocator arenas (files, stacks, shmem) */
	uint64_t unknown_frees;     /* frees of blocks allocated before the probes */
	bool since_attach;          /* live bytes count only blocks allocated since the attach */
	bool sampled;
};

void diagnosis__make(struct diagnosis *d, const struct ledger *l, const struct retention *r,
		     uint64_t rss_bytes, uint64_t now_ns);
/* --heap: findings by retained = resident - live, per arena, from s (a sample
 * filled by heap__tick) and each arena's live_bytes. */
void diagnosis__make_heap(struct diagnosis *d, const struct ledger *l, const struct retention *r,
			  uint64_t rss_bytes, uint64_t live_bytes, uint64_t now_ns);
/* The knob advice for an arena kind, or NULL when the kind has none. */
const char *diagnosis__knob(const char *kind);
/* Human text, several lines; returns the number of bytes written (snprintf-like). */
size_t diagnosis__text(const struct diagnosis *d, double retain_after_s, char *buf, size_t n);

#endif
