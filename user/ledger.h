/*
 * Region ledger: the target's mappings, grouped into arenas, with resident bytes
 * kept current from kernel events. Pure bookkeeping: no /proc access here (the
 * callers seed it and resolve unknown addresses), so unit tests drive it directly.
 * All deltas are in pages, as the kernel's RSS counters count them.
 */
#ifndef ARENATRACE_LEDGER_H
#define ARENATRACE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "region.h"
#include "classifier.h"

struct arena {
	char *id;                  /* "<kind>:<key>", stable for the arena's lifetime */
	const struct arena_kind *kind;
	int64_t resident_pages;
	int64_t peak_resident_pages;
	uint64_t faulted_pages;    /* made resident (faults, populate) */
	uint64_t released_pages;   /* given back (unmap, madvise, reclaim) */
	uint64_t mapped_bytes;     /* sum of its regions' lengths */
	uint64_t nr_regions;
	uint64_t created_ns, last_change_ns;
	bool needs_reconcile;      /* an event could not be attributed exactly */
	uint64_t corrected_ns;     /* start of the page-table walk last applied */
	bool gone;                 /* no regions left: reported once more, then freed */
	void *retention;           /* the retention analysis' per-arena state (retention.c) */
	void *stacks;              /* profile (a)'s per-arena state (stacks.c) */
	int64_t live_bytes;        /* --heap: the allocator's live bytes in it, set every tick (heap.c) */
	struct arena *next;
};

/*
 * Who else wants to know when an arena's resident pages change, and where (the
 * retention analysis ages pages by address block). [lo, hi) is the range the
 * kernel said the change happened in; pages > 0 made resident, < 0 released.
 * Corrections from reconciliation arrive with lo == hi == 0.
 */
struct ledger_observer {
	void (*on_change)(void *cookie, struct arena *a, uint64_t lo, uint64_t hi, int64_t pages,
			  uint64_t ts_ns);
	void (*on_free)(void *cookie, struct arena *a);   /* before the arena is freed */
	void *cookie;
};

#define LEDGER_MAX_OBSERVERS 4

/* Facts about the target process the classifier may use (allocators.c fills it). */
struct process_info {
	unsigned allocators;       /* bitmask of enum allocator_id (allocators.h) */
	/* Reads target memory (read-only, e.g. a glibc heap_info); NULL = not allowed. */
	bool (*peek)(void *cookie, uint64_t addr, void *buf, size_t len);
	void *peek_cookie;
	/* Set before the seed: never read the target's memory (the agent). glibc
	 * heaps are then not chained into arenas and mmapped chunks stay anon. */
	bool no_peek;
};

/* Resolves an address the ledger does not know (a VMA created without a tracked
 * syscall, e.g. by exec, stack growth or shmat). Fills r and returns true. */
typedef bool (*ledger_resolve_fn)(void *cookie, uint64_t addr, struct region *r);

struct ledger {
	struct region *regions;    /* sorted by start, non-overlapping */
	size_t nr_regions, cap_regions;
	struct arena *arenas;
	size_t nr_arenas;
	uint64_t brk_start, brk_end;   /* the brk heap, page aligned; 0 = unknown */
	uint64_t *thread_sps;          /* stack pointers of blocked threads (seed only) */
	size_t nr_thread_sps;
	int64_t unattributed_pages;    /* changes no region could take (cumulative) */
	uint64_t drift_pages;          /* pages corrected by reconciliation (cumulative) */
	bool needs_full_reconcile;
	uint64_t suspect_events;       /* records flagged uncertain by the BPF side */
	uint64_t now_ns;               /* timestamp of the event being applied */
	uint64_t last_unmap_ns;        /* when memory was last unmapped or replaced */
	ledger_resolve_fn resolve;
	void *resolve_cookie;
	struct ledger_observer observers[LEDGER_MAX_OBSERVERS];
	size_t nr_observers;
	struct process_info proc;          /* optional, for the classifier */
};

void ledger__init(struct ledger *l, ledger_resolve_fn resolve, void *cookie);
void ledger__reset(struct ledger *l);   /* exec: forget everything */
void ledger__free(struct ledger *l);

/* Seeding: add a region as /proc/PID/maps shows it (copies path), then classify
 * all seeded regions once every one is in (classification looks at neighbours). */
void ledger__seed_region(struct ledger *l, const struct region *r);
void ledger__seed_done(struct ledger *l);
void ledger__set_thread_sps(struct ledger *l, const uint64_t *sps, size_t n);

/* Events. delta_pages is the RSS counter change the kernel made inside the call. */
void ledger__map(struct ledger *l, const struct region *r, int64_t delta_pages);
void ledger__unmap(struct ledger *l, uint64_t start, uint64_t end, int64_t delta_pages);
void ledger__protect(struct ledger *l, uint64_t start, uint64_t end, uint32_t prot,
		     int64_t delta_pages);
void ledger__remap(struct ledger *l, uint64_t old_start, uint64_t old_len, uint64_t new_start,
		   uint64_t new_len, bool keep_old, int64_t delta_pages);
void ledger__brk(struct ledger *l, uint64_t new_brk, int64_t delta_pages);
/* madvise, mlock and anything else that changes residency inside a known range. */
void ledger__range_delta(struct ledger *l, uint64_t start, uint64_t end, int64_t delta_pages);
/* A fault (or kernel access) at addr changed RSS by delta_pages. */
void ledger__fault(struct ledger *l, uint64_t addr, int64_t delta_pages);
/* A thread's faults and madvise/mlock calls on [lo, hi) made added_pages resident
 * and released removed_pages. */
void ledger__fault_run(struct ledger *l, uint64_t lo, uint64_t hi, int64_t added_pages,
		       int64_t removed_pages, uint64_t first_ns);
/* RSS changed and nobody can say where (reclaim, another task). */
void ledger__unattributed(struct ledger *l, int64_t delta_pages);

/* An event's delta may hold another thread's change (the BPF side said so):
 * the totals are right, the split between arenas may not be. */
void ledger__suspect(struct ledger *l);

/* Reconciliation: the kernel says the arena holds `pages`; counts the drift. */
void ledger__correct(struct ledger *l, struct arena *a, int64_t pages, uint64_t walk_ns);
/* Drops arenas reported as gone; call after each emitted sample. */
void ledger__collect_gone(struct ledger *l);

/* Observers, called in the order added. */
void ledger__add_observer(struct ledger *l, const struct ledger_observer *o);
/* Tells every observer about a change (the ledger and the seed use it). */
void ledger__notify(const struct ledger *l, struct arena *a, uint64_t lo, uint64_t hi, int64_t pages,
		    uint64_t ts_ns);

/* Queries. */
const struct region *ledger__region_at(const struct ledger *l, uint64_t addr);
size_t ledger__index_at(const struct ledger *l, uint64_t addr); /* first region with end > addr */
bool ledger__has_thread_sp(const struct ledger *l, uint64_t start, uint64_t end);
int64_t ledger__accounted_pages(const struct ledger *l);
struct arena *ledger__find_arena(const struct ledger *l, const char *id);

#endif
