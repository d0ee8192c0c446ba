#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zlib.h>
#include "trace_file.h"

/* Pending items are compressed into a chunk past this (an item is at most 1 MiB,
 * so a chunk stays under TRACE_CHUNK_MAX). Small enough that `report`'s
 * inflating workers keep ahead of the replay from the start. */
#define CHUNK_FILL (1u << 20)
/* Room kept under --max-size for the chunk holding the END item. */
#define END_RESERVE 64

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static uint32_t get_u32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Why path cannot be written, for the cases O_EXCL|O_NOFOLLOW alone would
 * report as a bare EEXIST or ELOOP. Returns 0 when it does not exist. */
static int check_existing(const char *path, bool force)
{
	struct stat st;

	if (lstat(path, &st))
		return 0;
	if (S_ISLNK(st.st_mode))
		fprintf(stderr, "arenatrace: -o %s is a symbolic link; refusing to write through it, give the real path\n", path);
	else if (S_ISDIR(st.st_mode))
		fprintf(stderr, "arenatrace: -o %s is a directory; give a file name\n", path);
	else if (!S_ISREG(st.st_mode))
		fprintf(stderr, "arenatrace: -o %s exists and is not a regular file (a FIFO, socket or device); give another path\n", path);
	else if (st.st_uid != geteuid())
		fprintf(stderr, "arenatrace: -o %s belongs to uid %u, not to us; refusing to replace it\n", path,
			(unsigned)st.st_uid);
	else if (!force)
		fprintf(stderr, "arenatrace: -o %s exists; add --force to replace it\n", path);
	else
		return 0;
	return 2;
}

int trace_writer__open(struct trace_writer *w, const char *path, bool force, uint64_t max_size)
{
	unsigned char hdr[TRACE_HEADER_LEN];
	int rc, err;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->max_size = max_size;
	rc = check_existing(path, force);
	if (rc)
		return rc;
	w->path = strdup(path);
	w->buf = malloc(CHUNK_FILL + TRACE_ITEM_MAX + 8);
	w->zbuf = malloc(compressBound(CHUNK_FILL + TRACE_ITEM_MAX + 8));
	if (!w->path || !w->buf || !w->zbuf)
		goto nomem;
	if (force) {
		if (asprintf(&w->tmp_path, "%s.tmp.XXXXXX", path) < 0) {
			w->tmp_path = NULL;
			goto nomem;
		}
		/* mkostemp: O_CREAT|O_EXCL, mode 0600, a name nobody else holds. */
		w->fd = mkostemp(w->tmp_path, O_CLOEXEC);
	} else {
		w->fd = open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0600);
	}
	if (w->fd < 0) {
		err = errno;
		if (err == EEXIST || err == ELOOP || err == EISDIR) {
			/* Created by someone else between our check and the open. */
			rc = check_existing(path, force);
			if (rc)
				goto fail_rc;
		}
		fprintf(stderr, "arenatrace: cannot create -o %s: %s\n", force ? w->tmp_path : path, strerror(err));
		rc = err == EACCES || err == ENOENT || err == ENOTDIR || err == EROFS ? 2 : 1;
		goto fail_rc;
	}
	memcpy(hdr, TRACE_MAGIC, 8);
	put_u32(hdr + 8, TRACE_VERSION);
	put_u32(hdr + 12, 0);
	err = write_all(w->fd, hdr, sizeof(hdr));
	if (err) {
		fprintf(stderr, "arenatrace: writing -o %s failed: %s\n", path, strerror(-err));
		rc = 1;
		goto fail_rc;
	}
	w->offset = sizeof(hdr);
	return 0;
nomem:
	fprintf(stderr, "arenatrace: -o %s: out of memory\n", path);
	rc = 1;
fail_rc:
	if (w->fd >= 0) {
		close(w->fd);
		unlink(force ? w->tmp_path : path);
	}
	w->fd = -1;
	free(w->path);
	free(w->tmp_path);
	free(w->buf);
	free(w->zbuf);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	return rc;
}

static void append(struct trace_writer *w, uint32_t type, const void *payload, size_t len)
{
	put_u32(w->buf + w->len, type);
	put_u32(w->buf + w->len + 4, (uint32_t)len);
	if (len)
		memcpy(w->buf + w->len + 8, payload, len);
	w->len += 8 + len;
	w->items++;
}

static void add_end(struct trace_writer *w, uint32_t flags)
{
	unsigned char p[12];

	put_u32(p, flags);
	put_u32(p + 4, (uint32_t)w->items);
	put_u32(p + 8, (uint32_t)(w->items >> 32));
	append(w, TRACE_ITEM_END, p, sizeof(p));
}

/* Compresses w->buf into one chunk and writes it; the caller decides about limits. */
static int write_chunk(struct trace_writer *w, size_t *chunk_len, bool dry)
{
	uLongf comp = compressBound(w->len);
	unsigned char hdr[TRACE_CHUNK_HEADER_LEN];
	int err;

	if (compress2(w->zbuf, &comp, w->buf, w->len, 1) != Z_OK)
		return -ENOMEM;
	*chunk_len = sizeof(hdr) + comp;
	if (dry)
		return 0;
	put_u32(hdr, (uint32_t)w->len);
	put_u32(hdr + 4, (uint32_t)comp);
	put_u32(hdr + 8, (uint32_t)crc32(0, w->zbuf, comp));
	err = write_all(w->fd, hdr, sizeof(hdr));
	if (!err)
		err = write_all(w->fd, w->zbuf, comp);
	if (err) {
		/* A torn chunk would still read as "truncated"; drop it so the file ends clean. */
		if (ftruncate(w->fd, (off_t)w->offset))
			(void)0;
		return err;
	}
	w->offset += *chunk_len;
	w->len = 0;
	return 0;
}

static void fail(struct trace_writer *w, int err)
{
	fprintf(stderr, "arenatrace: writing -o %s failed: %s; the recording stops here, "
		"what was written so far stays readable\n", w->path, strerror(-err));
	w->failed = w->stopped = true;
	w->len = 0;
}

/* --max-size reached: the pending items are dropped, an END item says so. */
static void stop_at_limit(struct trace_writer *w)
{
	size_t n;
	int err;

	fprintf(stderr, "arenatrace: warning: -o %s reached --max-size (%llu bytes); recording stopped "
		"there (the file stays valid), tracing goes on\n", w->path, (unsigned long long)w->max_size);
	w->len = 0;
	add_end(w, TRACE_END_TRUNCATED);
	err = write_chunk(w, &n, false);
	if (err)
		fail(w, err);
	w->truncated = w->stopped = true;
}

int trace_writer__flush(struct trace_writer *w)
{
	size_t n;
	int err;

	if (w->fd < 0 || w->stopped || !w->len)
		return 0;
	if (w->max_size) {
		err = write_chunk(w, &n, true);
		if (!err && w->offset + n + END_RESERVE > w->max_size) {
			stop_at_limit(w);
			return 0;
		}
	}
	err = write_chunk(w, &n, false);
	if (err) {
		fail(w, err);
		return err;
	}
	return 0;
}

void trace_writer__add(struct trace_writer *w, uint32_t type, const void *payload, size_t len)
{
	if (w->fd < 0 || w->stopped)
		return;
	if (len > TRACE_ITEM_MAX)
		len = TRACE_ITEM_MAX;   /* callers never come close; never overrun the buffer */
	if (w->len + 8 + len > CHUNK_FILL)
		trace_writer__flush(w);
	if (w->stopped)
		return;
	append(w, type, payload, len);
}

int trace_writer__close(struct trace_writer *w)
{
	int rc = 0;

	if (w->fd < 0)
		return 0;
	if (!w->stopped) {
		trace_writer__flush(w);
		if (!w->stopped) {
			size_t n;
			int err;

			add_end(w, 0);
			err = write_chunk(w, &n, false);
			if (err)
				fail(w, err);
		}
	}
	if (close(w->fd) && !w->failed) {
		fprintf(stderr, "arenatrace: writing -o %s failed: %s\n", w->path, strerror(errno));
		w->failed = true;
	}
	/* Renamed even after a failure: what was written is readable, keep it. */
	if (w->tmp_path && rename(w->tmp_path, w->path)) {
		fprintf(stderr, "arenatrace: cannot rename %s to %s: %s (the recording is in %s)\n",
			w->tmp_path, w->path, strerror(errno), w->tmp_path);
		w->failed = true;
	}
	if (w->failed)
		rc = -1;
	w->fd = -1;
	free(w->path);
	free(w->tmp_path);
	free(w->buf);
	free(w->zbuf);
	w->path = w->tmp_path = NULL;
	w->buf = w->zbuf = NULL;
	return rc;
}

/* Reading. */

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

struct trace_reader_threads {
	pthread_t tid[TRACE_READER_WORKERS];
	int n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool shutdown;
};

/* Reading uses libdeflate: the same zlib streams, inflated about twice as fast
 * as zlib does (inflating is most of `report`'s work). */
static void *inflater_new(void)
{
	return libdeflate_alloc_decompressor();
}

static void inflater_free(void *p)
{
	if (p)
		libdeflate_free_decompressor(p);
}

int trace_reader__open(struct trace_reader *r, FILE *f)
{
	unsigned char hdr[TRACE_HEADER_LEN];

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->status = TRACE_CORRUPT;
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
		snprintf(r->msg, sizeof(r->msg), "too short for a recording (no %d-byte header)", TRACE_HEADER_LEN);
		return -1;
	}
	if (memcmp(hdr, TRACE_MAGIC, 8)) {
		snprintf(r->msg, sizeof(r->msg), "not an arenatrace recording (wrong magic)");
		return -1;
	}
	r->version = get_u32(hdr + 8);
	r->flags = get_u32(hdr + 12);
	if (r->version == 0 || r->version > TRACE_VERSION) {
		snprintf(r->msg, sizeof(r->msg), "recording format version %u; this arenatrace reads version %u "
			 "(use a newer arenatrace)", r->version, TRACE_VERSION);
		return -1;
	}
	r->zs = inflater_new();
	if (!r->zs) {
		snprintf(r->msg, sizeof(r->msg), "out of memory");
		return -1;
	}
	r->offset = r->read_off = TRACE_HEADER_LEN;
	r->status = TRACE_OK;
	return 0;
}

/* Grows *buf to at least need bytes (need <= TRACE_CHUNK_MAX, checked by the caller). */
static bool reserve(unsigned char **buf, size_t *cap, size_t need)
{
	unsigned char *p;

	if (need <= *cap)
		return true;
	p = realloc(*buf, need);
	if (!p)
		return false;
	*buf = p;
	*cap = need;
	return true;
}

static void chunk_stop(struct trace_chunk *c, enum trace_status st, const char *fmt)
{
	c->status = st;
	snprintf(c->msg, sizeof(c->msg), fmt, (unsigned long long)c->seq + 1, (unsigned long long)c->offset);
}

/* The file part, in file order (one caller at a time): the chunk's header and
 * compressed bytes. Anything but TRACE_OK ends the reading. */
static void read_stage(struct trace_reader *r, struct trace_chunk *c)
{
	unsigned char hdr[TRACE_CHUNK_HEADER_LEN];
	uint32_t comp_len;
	size_t n;

	c->offset = r->read_off;
	c->status = TRACE_OK;
	n = fread(hdr, 1, sizeof(hdr), r->f);
	if (n == 0 && feof(r->f)) {
		c->status = TRACE_EOF;
		return;
	}
	if (n != sizeof(hdr)) {
		chunk_stop(c, TRACE_TRUNCATED, "the file ends inside the header of chunk %llu (offset %llu)");
		return;
	}
	c->raw_len = get_u32(hdr);
	comp_len = get_u32(hdr + 4);
	if (c->raw_len > TRACE_CHUNK_MAX || comp_len > TRACE_CHUNK_MAX || !comp_len) {
		chunk_stop(c, TRACE_CORRUPT, "chunk %llu at offset %llu has impossible lengths; the rest is skipped");
		return;
	}
	if (!reserve(&c->comp, &c->comp_cap, comp_len + 4) || !reserve(&c->raw, &c->raw_cap, c->raw_len + 1)) {
		chunk_stop(c, TRACE_CORRUPT, "out of memory for chunk %llu (offset %llu)");
		return;
	}
	if (fread(c->comp, 1, comp_len, r->f) != comp_len) {
		chunk_stop(c, TRACE_TRUNCATED, "the file ends inside chunk %llu (offset %llu)");
		return;
	}
	/* The checksum travels with the bytes to the inflating side. */
	memcpy(c->comp + comp_len, hdr + 8, 4);
	c->end = c->offset + sizeof(hdr) + comp_len;
	r->read_off = c->end;
}

/* The CPU part, on any thread: checksum and inflate. */
static void cpu_stage(void *zsp, struct trace_chunk *c)
{
	size_t comp_len = c->end - c->offset - TRACE_CHUNK_HEADER_LEN, out = 0;

	if ((uint32_t)crc32(0, c->comp, comp_len) != get_u32(c->comp + comp_len)) {
		chunk_stop(c, TRACE_CORRUPT, "chunk %llu at offset %llu fails its checksum; the rest is skipped");
		return;
	}
	if (libdeflate_zlib_decompress(zsp, c->comp, comp_len, c->raw, c->raw_len, &out) != LIBDEFLATE_SUCCESS ||
	    out != c->raw_len)
		chunk_stop(c, TRACE_CORRUPT, "chunk %llu at offset %llu does not inflate; the rest is skipped");
}

static void *worker(void *arg)
{
	struct trace_reader *r = arg;
	struct trace_reader_threads *th = r->th;
	void *zs = inflater_new();

	pthread_mutex_lock(&th->lock);
	while (!th->shutdown && !r->read_done) {
		struct trace_chunk *c = NULL;

		for (int i = 0; i < TRACE_READER_SLOTS; i++)
			if (r->slots[i].state == SLOT_FREE) {
				c = &r->slots[i];
				break;
			}
		if (!c) {
			pthread_cond_wait(&th->cond, &th->lock);
			continue;
		}
		c->state = SLOT_BUSY;
		c->seq = r->next_seq++;
		read_stage(r, c);
		if (c->status == TRACE_OK && !zs)
			chunk_stop(c, TRACE_CORRUPT, "out of memory for chunk %llu (offset %llu)");
		if (c->status != TRACE_OK) {
			r->read_done = true;
		} else {
			pthread_mutex_unlock(&th->lock);
			cpu_stage(zs, c);
			pthread_mutex_lock(&th->lock);
		}
		c->state = SLOT_READY;
		pthread_cond_broadcast(&th->cond);
	}
	pthread_mutex_unlock(&th->lock);
	inflater_free(zs);
	return NULL;
}

bool trace_reader__prefetch(struct trace_reader *r, int workers)
{
	struct trace_reader_threads *th;

	if (r->th || r->status != TRACE_OK || r->cur || workers < 1)
		return false;
	th = calloc(1, sizeof(*th));
	if (!th)
		return false;
	pthread_mutex_init(&th->lock, NULL);
	pthread_cond_init(&th->cond, NULL);
	r->th = th;
	for (int i = 0; i < workers && i < TRACE_READER_WORKERS; i++)
		if (!pthread_create(&th->tid[th->n], NULL, worker, r))
			th->n++;
	if (!th->n) {
		pthread_mutex_destroy(&th->lock);
		pthread_cond_destroy(&th->cond);
		free(th);
		r->th = NULL;
		return false;
	}
	return true;
}

/* Moves to the next chunk in file order; false when the reading ends. */
static bool next_chunk(struct trace_reader *r)
{
	struct trace_chunk *c = NULL;

	if (!r->th) {
		c = &r->slots[0];
		c->seq = r->want_seq;
		read_stage(r, c);
		if (c->status == TRACE_OK)
			cpu_stage(r->zs, c);
	} else {
		struct trace_reader_threads *th = r->th;

		pthread_mutex_lock(&th->lock);
		if (r->cur) {
			r->cur->state = SLOT_FREE;
			pthread_cond_broadcast(&th->cond);
		}
		r->cur = NULL;
		while (!c) {
			for (int i = 0; i < TRACE_READER_SLOTS; i++)
				if (r->slots[i].state == SLOT_READY && r->slots[i].seq == r->want_seq)
					c = &r->slots[i];
			if (!c)
				pthread_cond_wait(&th->cond, &th->lock);
		}
		pthread_mutex_unlock(&th->lock);
		r->cur = c;
	}
	r->want_seq++;
	if (c->status != TRACE_OK) {
		r->status = c->status;
		memcpy(r->msg, c->msg, sizeof(r->msg));
		/* Whatever follows is not read: count it as skipped. */
		if (c->status != TRACE_EOF && fseeko(r->f, 0, SEEK_END) == 0) {
			off_t end = ftello(r->f);

			if (end > 0 && (uint64_t)end > c->offset)
				r->skipped_bytes = (uint64_t)end - c->offset;
		}
		return false;
	}
	r->offset = c->end;
	r->chunks++;
	r->raw = c->raw;
	r->raw_len = c->raw_len;
	r->pos = 0;
	return true;
}
bool trace_reader__next(struct trace_reader *r, uint32_t *type, const void **payload, uint32_t *len)
{
	while (r->status == TRACE_OK) {
		uint32_t t, l;

		if (r->pos == r->raw_len) {
			if (r->end_seen) {
				/* Nothing is written after END; anything there is not ours. */
				r->status = TRACE_EOF;
				return false;
			}
			if (!next_chunk(r))
				return false;
			continue;
		}
		if (r->raw_len - r->pos < 8 || (l = get_u32(r->raw + r->pos + 4)) > r->raw_len - r->pos - 8) {
			/* The checksum matched, so the writer made it so: skip the chunk's rest. */
			r->skipped_bytes += r->raw_len - r->pos;
			r->pos = r->raw_len;
			continue;
		}
		t = get_u32(r->raw + r->pos);
		*payload = r->raw + r->pos + 8;
		r->pos += 8 + l;
		if (t == TRACE_ITEM_END) {
			r->end_seen = true;
			r->end_flags = l >= 4 ? get_u32(*payload) : 0;
			continue;
		}
		*type = t;
		*len = l;
		r->items++;
		return true;
	}
	return false;
}

void trace_reader__close(struct trace_reader *r)
{
	struct trace_reader_threads *th = r->th;

	if (th) {
		pthread_mutex_lock(&th->lock);
		th->shutdown = true;
		pthread_cond_broadcast(&th->cond);
		pthread_mutex_unlock(&th->lock);
		for (int i = 0; i < th->n; i++)
			pthread_join(th->tid[i], NULL);
		pthread_mutex_destroy(&th->lock);
		pthread_cond_destroy(&th->cond);
		free(th);
		r->th = NULL;
	}
	for (int i = 0; i < TRACE_READER_SLOTS; i++) {
		free(r->slots[i].comp);
		free(r->slots[i].raw);
	}
	memset(r->slots, 0, sizeof(r->slots));
	inflater_free(r->zs);
	r->zs = NULL;
	r->raw = NULL;
	r->cur = NULL;
}
