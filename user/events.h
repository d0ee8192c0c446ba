/* Turns ring-buffer records into ledger operations. */
#ifndef ARENATRACE_EVENTS_H
#define ARENATRACE_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "ledger.h"

struct event_sink {
	void (*exec)(void *cookie, const char *comm, const char *filename, uint64_t ts_ns);
	void (*exit)(void *cookie, int exit_code, uint64_t ts_ns);
	void (*thread)(void *cookie, uint32_t tid, uint64_t ts_ns);
	void *cookie;
};

struct event_stats {
	uint64_t records, rss, syscalls, skipped_before_seed, malformed;
};

/* Applies one record. Records stamped before seed_ns are already in the seed and
 * are skipped. pid is used to name file mappings through /proc/PID/map_files. */
void events__apply(struct ledger *l, pid_t pid, uint64_t seed_ns, const void *data, size_t len,
		   const struct event_sink *sink, struct event_stats *st);

/* The mapping containing addr from /proc/PID/maps, recorded with -o and replayed
 * by `report` (recorder.h); fills r, caller frees r->path. */
bool events__lookup(pid_t pid, uint64_t addr, struct region *r);

#endif
