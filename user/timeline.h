/* JSON Lines timeline (schema v1, documented in README.md). */
#ifndef ARENATRACE_TIMELINE_H
#define ARENATRACE_TIMELINE_H

#include <stdbool.h>
#include <stdio.h>
#include "diagnosis.h"
#include "ledger.h"
#include "retention.h"
#include "sample.h"

struct timeline {
	FILE *f;
	bool own;        /* we opened f (not stdout) */
	bool failed;     /* a write failed (disk full): reported once */
	const char *path;
	/* --heap (set after timeline__open): "exact" or "sampled"; NULL without --heap. */
	const char *heap_mode;
	uint64_t heap_sample_bytes;
};

/* path NULL: timeline off. Returns 0 or -errno (message printed). */
int timeline__open(struct timeline *tl, const char *path);
void timeline__meta(struct timeline *tl, const struct sample *s, double interval_s,
		    const char *mode, char **cmd, uint64_t start_unix_ms, unsigned allocators);
/* The sample and one record per arena. r may be NULL; times are CLOCK_MONOTONIC. */
void timeline__sample(struct timeline *tl, const struct sample *s, const struct ledger *l,
		      const struct retention *r, uint64_t now_ns, uint64_t start_ns);
/* Every burst so far (after the final arena set). */
void timeline__bursts(struct timeline *tl, const struct sample *s, const struct ledger *l,
		      const struct retention *r, uint64_t start_ns);
void timeline__diagnosis(struct timeline *tl, const struct sample *s, const struct diagnosis *d,
			 const char *text);
void timeline__exec(struct timeline *tl, double t, pid_t pid, const char *comm, const char *filename);
void timeline__exit(struct timeline *tl, double t, pid_t pid, int status, int signal);
/* Flushes; returns 0 or -errno (message printed). */
int timeline__flush(struct timeline *tl);
int timeline__close(struct timeline *tl);

/* Writes s as a JSON string literal (with quotes). */
void json__string(FILE *f, const char *s);

#endif
