/* The BPF side's lifecycle: open, configure, load, attach; and reading its maps. */
#ifndef ARENATRACE_LOADER_H
#define ARENATRACE_LOADER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "arenatrace_records.h"

struct arenatrace_bpf;
struct ring_buffer;

struct loader {
	struct arenatrace_bpf *skel;
	struct ring_buffer *rb;
	int nr_cpus;
	bool single;                               /* started with a target: it is slot 0 */
	pid_t slots[ARENATRACE_MAX_TARGETS];       /* agent mode: each slot's tgid, 0 free */
	uint64_t stats_seen[ARENATRACE_STAT_NR];   /* loader__stat's last read of each */
};

typedef int (*loader_record_fn)(void *cookie, void *data, size_t len);

/* The programs opened and loaded for target (0: the agent), not attached; prints
 * what went wrong and returns an exit code on failure. loader__start() does this
 * and attaches; `floor --toggle` in tests/bench attaches and detaches them itself. */
int loader__load(struct loader *ld, pid_t target, const char *btf_path, bool verbose, unsigned stack_mode,
		 uint64_t sample_bytes);

/* Returns 0, or an exit code after printing what to do. target > 0: trace that
 * process, as slot 0; target 0: the agent, with targets added and removed below.
 * stack_mode: 0 off, else enum arenatrace_stack_mode, one sample per sample_bytes. */
int loader__start(struct loader *ld, pid_t target, const char *btf_path, bool verbose,
		  unsigned stack_mode, uint64_t sample_bytes, loader_record_fn fn, void *cookie);
/* Applies every record waiting in the ring buffer; returns how many, or -errno. */
int loader__drain(struct loader *ld);
/* A kernel-side count summed over CPUs; the last value read when reading fails. */
uint64_t loader__stat(struct loader *ld, enum arenatrace_stat which);
/* Agent mode: follow process tgid from now on; returns its slot (records carry
 * it) or -errno (-ENOSPC: ARENATRACE_MAX_TARGETS followed already). */
int loader__add_target(struct loader *ld, pid_t tgid);
/* Stop following a slot's process (it exited, or no longer matches). */
void loader__remove_target(struct loader *ld, int slot);
/* Tells the kernel side that a mapping of slot's process starts or ends at addr,
 * so no fault run crosses it (it learns the mappings made while it traces by
 * itself; these are the ones found at the start and after exec). */
void loader__add_boundary(struct loader *ld, int slot, uint64_t addr);
/* The kernel's exact RSS counters for a target (pages), false until first seen. */
bool loader__rss_pages(struct loader *ld, int slot, int64_t *pages);
void loader__stop(struct loader *ld);

#endif
