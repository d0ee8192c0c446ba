/*
 * The recording file (-o, `arenatrace report`), version 1:
 *
 *   header: "ATRACE\0\0" (8 bytes), u32 version, u32 flags (little endian)
 *   chunks: u32 raw_len, u32 comp_len, u32 crc32 of the compressed bytes, then
 *           comp_len bytes of zlib data that inflate to exactly raw_len bytes
 *   a chunk holds whole items: u32 type, u32 len, len bytes of payload
 *
 * raw_len and comp_len are at most TRACE_CHUNK_MAX; a reader refuses more (so a
 * corrupt length never makes it allocate more than that). Chunks are written
 * whole and flushed regularly: a file cut anywhere (SIGKILL, full disk) reads up
 * to its last complete chunk. Readers refuse a higher version and skip item types
 * they do not know (that is how version 1 grows).
 */
#ifndef ARENATRACE_TRACE_FILE_H
#define ARENATRACE_TRACE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TRACE_MAGIC "ATRACE\0\0"
#define TRACE_VERSION 1u
#define TRACE_HEADER_LEN 16
#define TRACE_CHUNK_HEADER_LEN 12
#define TRACE_CHUNK_MAX (4u << 20)
/* An item never exceeds this (a chunk is flushed before it would). */
#define TRACE_ITEM_MAX (1u << 20)
/* Type 1 is the file's own: the last item, u32 flags (TRACE_END_*), u64 items. */
#define TRACE_ITEM_END 1u
#define TRACE_END_TRUNCATED 1u   /* --max-size reached: recording stopped there */

struct trace_writer {
	int fd;
	char *path;            /* what the user asked for */
	char *tmp_path;        /* --force: written here, renamed to path at the end */
	unsigned char *buf;    /* the chunk being filled */
	size_t len;
	unsigned char *zbuf;
	uint64_t offset;       /* bytes in the file (all complete chunks) */
	uint64_t max_size;     /* 0 = unbounded */
	uint64_t items;
	bool stopped;          /* max size reached or a write failed: items are dropped */
	bool truncated;        /* stopped at max_size */
	bool failed;           /* a write failed (message printed) */
};

/* Creates path (O_EXCL|O_NOFOLLOW, mode 0600); with force, an existing regular
 * file of ours is replaced at trace_writer__close. Returns 0, or 2 (usage: exists,
 * not a regular file, someone else's) or 1 (runtime) after printing why. */
int trace_writer__open(struct trace_writer *w, const char *path, bool force, uint64_t max_size);
/* Appends one item (len <= TRACE_ITEM_MAX); flushes a chunk when the buffer is full. */
void trace_writer__add(struct trace_writer *w, uint32_t type, const void *payload, size_t len);
/* Compresses and writes the pending items as one chunk. Returns 0 or -errno. */
int trace_writer__flush(struct trace_writer *w);
/* Writes the END item, the last chunk, renames the --force temporary file.
 * Returns 0, or -1 when anything failed (a message was printed). */
int trace_writer__close(struct trace_writer *w);

enum trace_status {
	TRACE_OK,          /* items are coming */
	TRACE_EOF,         /* clean end of the file */
	TRACE_TRUNCATED,   /* the file ends inside a chunk (killed while writing) */
	TRACE_CORRUPT,     /* a chunk failed its checks: the rest is skipped */
};

/* One chunk being read, inflated or used by the reader. */
struct trace_chunk {
	unsigned char *comp, *raw;
	size_t comp_cap, raw_cap;  /* grown to the largest chunk, at most TRACE_CHUNK_MAX */
	size_t raw_len;
	uint64_t seq, offset, end;  /* its place in the file: [offset, end) */
	int state;                  /* free, being filled, ready (trace_file.c) */
	enum trace_status status;   /* TRACE_OK: raw holds the chunk */
	char msg[160];
};

#define TRACE_READER_SLOTS 4
#define TRACE_READER_WORKERS 2

struct trace_reader_threads;

struct trace_reader {
	FILE *f;
	uint32_t version, flags;
	uint64_t chunks, items, skipped_bytes;
	uint64_t offset;          /* file offset after the last chunk read */
	bool end_seen;            /* the END item was read */
	uint32_t end_flags;
	enum trace_status status;
	char msg[160];            /* why it stopped, when not TRACE_EOF */
	/* The chunk whose items are being returned. */
	const unsigned char *raw;
	size_t raw_len, pos;
	/* Internals: chunk slots, the reading position, the inflater, workers. */
	struct trace_chunk slots[TRACE_READER_SLOTS];
	struct trace_chunk *cur;
	uint64_t read_off, next_seq, want_seq;
	bool read_done;
	void *zs;
	struct trace_reader_threads *th;
};

/* Checks the header. Returns 0, or -1 with r->msg saying what is wrong. */
int trace_reader__open(struct trace_reader *r, FILE *f);
/* Inflates the next chunks on worker threads while the caller uses this one
 * (`report` on a big file). Items come out the same; false = stays serial. */
bool trace_reader__prefetch(struct trace_reader *r, int workers);
/* The next item: returns true with *type, *payload (valid until the next call)
 * and *len; false at the end (r->status and r->msg say how it ended). END items
 * are consumed here (r->end_seen) and not returned. */
bool trace_reader__next(struct trace_reader *r, uint32_t *type, const void **payload, uint32_t *len);
void trace_reader__close(struct trace_reader *r);

#endif
