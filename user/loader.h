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
};

typedef int (*loader_record_fn)(void *cookie, void *data, size_t len);

/* Returns 0, or an exit code after printing what to do. */
/* stack_mode: 0 off, else enum arenatrace_stack_mode, one sample per sample_bytes. */
int loader__start(struct loader *ld, pid_t target, const char *btf_path, bool verbose,
		  unsigned stack_mode, uint64_t sample_bytes, loader_record_fn fn, void *cookie);
/* Applies every record waiting in the ring buffer; returns how many, or -errno. */
int loader__drain(struct loader *ld);
uint64_t loader__stat(struct loader *ld, enum arenatrace_stat which);
/* The kernel's exact RSS counters for the target (pages), false until first seen. */
bool loader__rss_pages(struct loader *ld, int64_t *pages);
void loader__stop(struct loader *ld);

#endif
