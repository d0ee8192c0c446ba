/*
 * Prometheus text exposition (format 0.0.4) of the agent's state: a pure
 * function from a snapshot to text, so tests feed it synthetic snapshots.
 *
 * Label cardinality is bounded: per process the top_arenas arenas by resident
 * bytes get their own series; the rest are summed per kind under
 * arena="other", so a process has at most top_arenas + (number of kinds)
 * arena series per metric however many mappings it makes.
 */
#ifndef ARENATRACE_METRICS_H
#define ARENATRACE_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct metrics_arena {
	const char *id;               /* "kind:key" */
	const char *kind;
	uint64_t mapped_bytes, resident_bytes, peak_resident_bytes, retained_bytes;
	uint64_t faulted_bytes, released_bytes;   /* cumulative */
};

/* Per kind, every arena the process ever had (gone ones too): monotonic. */
struct metrics_kind {
	const char *kind;
	uint64_t faulted_bytes, released_bytes;
};

struct metrics_process {
	pid_t pid;
	const char *comm;
	uint64_t rss_bytes;           /* the kernel's RSS counters */
	uint64_t accounted_bytes;     /* sum of the arenas' resident bytes */
	uint64_t retained_bytes;
	uint64_t drift_bytes;         /* cumulative */
	double start_time_s;          /* unix time the agent started following it */
	uint64_t stack_trims;         /* times its stack tables reached their bound */
	struct metrics_arena *arenas;
	size_t nr_arenas;
	struct metrics_kind *kinds;
	size_t nr_kinds;
};

struct metrics_snapshot {
	const char *version;
	struct metrics_process *procs;
	size_t nr_procs;
	uint64_t lost_events;         /* ring buffer full, cumulative, all targets */
	uint64_t targets_dropped;     /* matching processes not followed (no slot) */
	uint64_t processes_followed;  /* cumulative: every process picked up */
	double last_tick_seconds;     /* how long the last interval's work took */
	unsigned top_arenas;          /* 0 = no bound */
};

/* Writes the whole exposition to out; 0 or -errno. Sorts each process's
 * arenas in place (resident bytes, largest first). */
int metrics__render(struct metrics_snapshot *s, FILE *out);
/* Writes v as a label value: backslash, double quote and newline escaped. */
void metrics__label_value(FILE *out, const char *v);

#endif
