/*
 * The tracer's nondeterministic inputs, recorded or replayed (-o, `report`).
 *
 * The analysis is deterministic given its inputs: ring-buffer records, what the
 * seed read from /proc, the answers to lookups of unknown addresses, peeks at
 * target memory, the clock, the kernel's RSS and lost-event counters and the
 * page-table walks of reconciliation. Every place that asks for one of them goes
 * through here: live, it asks the system and (with -o) logs the answer as one
 * item; in replay it takes the next logged answer instead. One source per
 * process (like the tracer itself), so the modules that ask need no handle.
 */
#ifndef ARENATRACE_RECORDER_H
#define ARENATRACE_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "trace_file.h"

/* Item types (TRACE_ITEM_END = 1 is the file's own). Never renumbered. */
enum input_item {
	IN_META = 2,         /* struct input_meta + NUL-separated command words */
	IN_SEED_REGION,      /* u8 1 + struct input_region + path (as IN_RESOLVE) */
	IN_SEED_END,         /* i32: 0 or -errno of reading /proc/PID/maps */
	IN_PEEK,             /* u8 ok + the bytes read */
	IN_RESOLVE,          /* u8 ok + struct input_region + path */
	IN_MAPFILE,          /* the path, or empty for none */
	IN_RECORD,           /* one ring-buffer record as the kernel sent it */
	IN_DRAIN_END,        /* end of one drain of the ring buffer */
	IN_TICK,             /* an interval's sample starts */
	IN_MEASURE,          /* i64: one pagemap walk (resident pages or -errno) */
	IN_MODULES,          /* struct input_modules + the code mappings (maps format) when changed */
	IN_NOW,              /* u64: CLOCK_MONOTONIC ns */
	IN_RSS,              /* i64: the target's RSS pages as the sample reports it */
	IN_LOST,             /* u64: lost events so far */
	IN_SPS,              /* u64[]: stack pointers of blocked threads */
	IN_ALLOCATORS,       /* u32: allocators__detect */
	IN_START_BRK,        /* u64 */
	IN_COMM,             /* the target's comm */
	IN_PAGEMAP_OPEN,     /* i32: 0 or -errno */
	IN_UNIX_MS,          /* u64: wall clock at the start */
	IN_STOP,             /* u8 exited, i32 exit_status: the run loop ended */
	IN_RUN,              /* a fault-run record, packed (struct packed_run in recorder.c) */
	IN_STACK,            /* struct input_stack + nr u64 ips: one stack sample, unwound */
};
#define IN_LAST IN_STACK

/* IN_MODULES: one symbolizer refresh (symbolizer.c). The text follows only when
 * the code mappings changed (changed = 1). */
struct input_modules {
	int32_t err;             /* 0 or -errno of the refresh */
	uint32_t changed;
	uint64_t digest;
	uint64_t vdso_start, vdso_end;
};

/* IN_STACK: what stacks.c uses of a sample once it is unwound. */
struct input_stack {
	uint64_t addr, weight_bytes;
	uint32_t event, sys;
	uint32_t nr;             /* ips that follow */
	uint32_t unwind_failed;
};

struct input_meta {
	int32_t pid;
	uint32_t launch;         /* 1 launch, 0 attach */
	double interval_s, retain_after_s;
	uint32_t top, call_graph;
};

struct input_region {
	uint64_t start, end;
	uint32_t prot, map_flags;
	uint32_t shared, has_path;
};

enum input_mode { INPUT_LIVE, INPUT_RECORD, INPUT_REPLAY };

/* What a replayed ask got. */
enum input_got {
	INPUT_ASK_LIVE,    /* not replaying: ask the system (then input__put the answer) */
	INPUT_GOT,         /* replayed: here is the logged answer */
	INPUT_NONE,        /* replaying and the recording ran out (or diverged) */
};

struct trace_reader;

/* Live with -o: log to w (owned by the caller). */
void input__record(struct trace_writer *w);
/* Replay from r. */
void input__replay(struct trace_reader *r);
void input__reset(void);   /* back to live, nothing logged */
enum input_mode input__mode(void);
bool input__exhausted(void);

/* Logs one answer (only with -o). */
void input__put(uint32_t type, const void *payload, size_t len);
/* Takes the next answer of this type, exactly len bytes, into buf. */
enum input_got input__take(uint32_t type, void *buf, size_t len);
/* Takes the next answer of this type, any length (valid until the next take). */
enum input_got input__take_var(uint32_t type, const void **payload, uint32_t *len);
/* Ring-buffer records: fault runs (nearly all of them) packed as IN_RUN, the
 * rest as IN_RECORD. take fills buf (cap >= 256) and *len; INPUT_NONE also when
 * the next item is not a record. */
void input__put_record(const void *data, size_t len);
enum input_got input__take_record(void *buf, size_t cap, uint32_t *len);

struct region;
/* A region with its path; ok false = "no such mapping". */
void input__put_region(uint32_t type, bool ok, const struct region *r);
/* Fills r (r->path malloc'ed or NULL) and *ok. */
enum input_got input__take_region(uint32_t type, bool *ok, struct region *r);

/* The type of the next item in replay (0 when none). */
uint32_t input__peek_type(void);
/* Replay: the item number and why it stopped early (NULL when it did not). */
const char *input__problem(void);

#endif
