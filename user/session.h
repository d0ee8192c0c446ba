/*
 * One traced process: its ledger, residency, retention analysis, stacks and
 * history, fed with that process's BPF records. The tracer (`-p`, `--`,
 * `report`) drives one session; the agent drives one per process it follows,
 * all over one loader.
 */
#ifndef ARENATRACE_SESSION_H
#define ARENATRACE_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "cli.h"
#include "events.h"
#include "history.h"
#include "ledger.h"
#include "loader.h"
#include "pagemap.h"
#include "residency.h"
#include "retention.h"
#include "sample.h"
#include "stacks.h"
#include "target.h"
#include "timeline.h"

struct session {
	const struct options *o;
	struct target target;
	struct loader *ld;         /* where RSS and lost counts are read; NULL in replay */
	int slot;                  /* the target's slot in ld (0 when tracing one process) */
	struct ledger ledger;
	struct pagemap pm;
	struct timeline *tl;       /* exec records go there; never NULL (a closed one is off) */
	struct event_stats est;
	struct event_sink sink;
	uint64_t start_ns, seed_ns;
	uint64_t threads_created;
	int64_t last_rss_pages;
	bool exit_seen;
	int exit_raw;              /* kernel wait status from the exit record */
	struct measurement *measurements;
	struct retention *retention;
	struct history history;    /* for --html and --csv, the agent's recent past */
	bool keep_history;
	struct stacks *stacks;     /* with --call-graph, --folded, --pprof */
	struct heap *heap;         /* --heap (the tracer only; owned by it) */
	uint64_t start_unix_ms;
	uint64_t tick_now;         /* the clock of the sample being made */
	uint64_t last_lost;
	bool replay;               /* `report`: inputs come from a recording */
	/* Applies every record waiting (the run loop's drain: for the agent, every
	 * session's records); reconciliation calls it between walk and apply. */
	int (*drain)(void *cookie);
	void *drain_cookie;
};

/* The clock for pacing loops only: never seen by the analysis. */
uint64_t session__clock_ns(void);
/* The clock as the analysis sees it: recorded with -o, replayed by `report`. */
uint64_t session__now_ns(void);

/* history_points: points kept before old ones coarsen. */
void session__init(struct session *s, const struct options *o, struct timeline *tl, size_t history_points);
void session__free(struct session *s);
void session__read_comm(struct session *s);
/* Reads the process afresh (attach, exec); 0 or -errno (message printed). */
int session__seed(struct session *s);
/* Applies one BPF record (the target's own). */
int session__apply_record(struct session *s, const void *data, size_t len);
/* The ring buffer's callback for this session: logs the record, then applies it. */
int session__on_record(void *cookie, void *data, size_t len);
void session__fill_sample(struct session *s, struct sample *smp, bool final);
/* Re-reads arenas whose events could not be attributed exactly. */
void session__reconcile(struct session *s);
/* One interval: reconcile (unless final), retention, the sample into *smp,
 * the JSON records and the history. The caller drains first and calls
 * session__end_tick after using the ledger. */
void session__tick(struct session *s, struct sample *smp, bool final);
void session__end_tick(struct session *s);
double session__since_start(const struct session *s, uint64_t ns);
/* For history__add: an arena's retained bytes at the tick. */
uint64_t session__retained_of(void *cookie, const struct arena *a);

#endif
