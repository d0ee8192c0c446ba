/*
 * The end-of-run report: one self-contained HTML file (no network, opens
 * offline) with a stacked chart of resident bytes per arena over time, the
 * bursts, the final arena table, each arena's resident memory by age, the
 * diagnosis and, with stacks, a flame graph of profile (a): resident bytes by
 * first-touch stack. The data travels as JSON in the page; inline JS draws the
 * chart and the flame graph.
 */
#ifndef ARENATRACE_HTML_REPORT_H
#define ARENATRACE_HTML_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "history.h"
#include "ledger.h"
#include "profile.h"
#include "retention.h"

struct html_report_input {
	const struct history *history;      /* the timeline (required) */
	pid_t pid;
	const char *comm;                   /* NULL = unknown */
	char *const *command;               /* launch mode: argv, NULL-terminated; else NULL */
	const struct ledger *ledger;        /* final state, for the arena table; NULL = none */
	const struct retention *retention;  /* NULL = no retention analysis (no bursts, no ages) */
	uint64_t start_ns;                  /* t = 0 on the ledger's clock (CLOCK_MONOTONIC) */
	uint64_t now_ns;                    /* when the final sample was taken */
	uint64_t start_unix_ms;             /* wall clock of t = 0; 0 = unknown */
	double interval_s;
	const char *diagnosis;              /* plain text; NULL = none */
	const struct profile *profile;      /* stacks' profiles, (a) drawn as a flame graph; NULL = no stacks */
	bool heap;                          /* --heap: retained is resident - live (arena live_bytes) */
};

/* Flame graph nodes narrower than 1/HTML_REPORT_FLAME_MIN_SHARE of the total are
 * merged into their parent, so a huge profile stays small in the page. */
#define HTML_REPORT_FLAME_MIN_SHARE 1000

/* Arenas drawn on their own in the chart; the rest are summed as "other". */
#define HTML_REPORT_TOP_ARENAS 8

/* The page into f (left open). Returns 0 or -errno (nothing printed). */
int html_report__write_file(FILE *f, const struct html_report_input *in);
/* Returns 0 or -errno (message printed). */
int html_report__write(const char *path, const struct html_report_input *in);

#endif
