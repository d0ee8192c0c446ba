/*
 * Recording file unit tests (no root): write small files with trace_writer, read
 * them back with trace_reader, then damage them every way the reader must survive:
 * cut at every byte, bit flips, wrong magic, a future version, huge lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "trace_file.h"

#define NITEMS 40

static char dir[] = "/tmp/arenatrace-unit-XXXXXX";

static void path_of(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

/* Item i: type 2 + i % 5, payload i bytes of value i. Flushed every 10 items. */
static void write_small(const char *path)
{
	struct trace_writer w;
	unsigned char p[NITEMS];

	assert_int_equal(trace_writer__open(&w, path, false, 0), 0);
	for (int i = 0; i < NITEMS; i++) {
		memset(p, i, sizeof(p));
		trace_writer__add(&w, 2 + i % 5, p, (size_t)i);
		if (i % 10 == 9)
			assert_int_equal(trace_writer__flush(&w), 0);
	}
	assert_int_equal(trace_writer__close(&w), 0);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(1 << 20);

	assert_non_null(f);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* Reads buf; returns the number of items, checking each is the one written. */
static int read_mem(const unsigned char *buf, size_t len, struct trace_reader *r, int *open_rc)
{
	FILE *f = fmemopen((void *)buf, len ? len : 1, "rb");
	uint32_t type, n;
	const void *p;
	int count = 0;

	if (!len) {
		/* fmemopen needs a size; a zero-length file: read past it at once. */
		fseek(f, 1, SEEK_SET);
	}
	*open_rc = trace_reader__open(r, f);
	if (*open_rc) {
		fclose(f);
		return 0;
	}
	while (trace_reader__next(r, &type, &p, &n)) {
		assert_int_equal(type, 2 + count % 5);
		assert_int_equal(n, count);
		for (uint32_t k = 0; k < n; k++)
			assert_int_equal(((const unsigned char *)p)[k], count);
		count++;
	}
	trace_reader__close(r);
	fclose(f);
	return count;
}

static void test_round_trip(void **state)
{
	char path[256];
	struct trace_reader r;
	struct stat st;
	unsigned char *buf;
	size_t len;
	int rc;

	(void)state;
	path_of(path, sizeof(path), "rt.at");
	write_small(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	buf = slurp(path, &len);
	assert_int_equal(read_mem(buf, len, &r, &rc), NITEMS);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, TRACE_EOF);
	assert_true(r.end_seen);
	assert_int_equal(r.end_flags, 0);
	assert_int_equal(r.chunks, 5);   /* four flushes and the END chunk */
	free(buf);
}

/* Every prefix reads as a prefix of the items, never more, never a crash. */
static void test_truncated_everywhere(void **state)
{
	char path[256];
	struct trace_reader r;
	unsigned char *buf;
	size_t len;
	int rc, prev = 0;

	(void)state;
	path_of(path, sizeof(path), "cut.at");
	write_small(path);
	buf = slurp(path, &len);
	for (size_t cut = 0; cut < len; cut++) {
		int n = read_mem(buf, cut, &r, &rc);

		if (cut < TRACE_HEADER_LEN) {
			assert_int_not_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(n >= prev);          /* more bytes, never fewer items */
		assert_true(n == 0 || n % 10 == 0);   /* whole chunks only */
		assert_false(r.end_seen);
		assert_true(r.status == TRACE_EOF || r.status == TRACE_TRUNCATED);
		prev = n;
	}
	free(buf);
}

static void test_bit_flips(void **state)
{
	char path[256];
	struct trace_reader r;
	unsigned char *buf;
	size_t len;
	int rc;

	(void)state;
	path_of(path, sizeof(path), "flip.at");
	write_small(path);
	buf = slurp(path, &len);
	for (size_t i = TRACE_HEADER_LEN; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			int n;

			buf[i] ^= 1 << bit;
			n = read_mem(buf, len, &r, &rc);
			buf[i] ^= 1 << bit;
			assert_int_equal(rc, 0);
			/* Detected: the reader stops before the damaged chunk. */
			assert_true(n < NITEMS || (!r.end_seen && r.status != TRACE_OK));
			assert_true(n % 10 == 0);
		}
	}
	free(buf);
}

static void test_bad_headers(void **state)
{
	char path[256];
	struct trace_reader r;
	unsigned char *buf;
	size_t len;
	int rc;

	(void)state;
	path_of(path, sizeof(path), "hdr.at");
	write_small(path);
	buf = slurp(path, &len);
	buf[0] = 'X';
	read_mem(buf, len, &r, &rc);
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(r.msg, "magic"));
	buf[0] = 'A';
	buf[8] = 2;   /* version 2 */
	read_mem(buf, len, &r, &rc);
	assert_int_not_equal(rc, 0);
	assert_non_null(strstr(r.msg, "version 2"));
	buf[8] = 1;
	/* Huge lengths in the first chunk: refused, nothing allocated for them. */
	memset(buf + TRACE_HEADER_LEN, 0xff, 8);
	assert_int_equal(read_mem(buf, len, &r, &rc), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(r.status, TRACE_CORRUPT);
	assert_non_null(strstr(r.msg, "impossible lengths"));
	free(buf);
}

static void test_max_size(void **state)
{
	char path[256];
	struct trace_writer w;
	struct trace_reader r;
	unsigned char p[4096], *buf;
	size_t len;
	int rc, n;

	(void)state;
	path_of(path, sizeof(path), "max.at");
	assert_int_equal(trace_writer__open(&w, path, false, 8192), 0);
	for (int i = 0; i < 100; i++) {
		/* Incompressible enough that 8 KiB holds only a few. */
		for (size_t k = 0; k < sizeof(p); k++)
			p[k] = (unsigned char)(rand() >> 7);
		trace_writer__add(&w, 2, p, 64);
		trace_writer__flush(&w);
	}
	assert_true(w.truncated);
	assert_int_equal(trace_writer__close(&w), 0);
	buf = slurp(path, &len);
	assert_true(len <= 8192);
	n = 0;
	{
		FILE *f = fmemopen(buf, len, "rb");
		uint32_t type, l;
		const void *q;

		assert_int_equal(trace_reader__open(&r, f), 0);
		while (trace_reader__next(&r, &type, &q, &l))
			n++;
		trace_reader__close(&r);
		fclose(f);
	}
	(void)rc;
	assert_true(n > 0 && n < 100);
	assert_true(r.end_seen);
	assert_int_equal(r.end_flags, TRACE_END_TRUNCATED);
	free(buf);
}

static void test_file_safety(void **state)
{
	char path[256], link[256], tmp[300];
	struct trace_writer w;

	(void)state;
	path_of(path, sizeof(path), "safe.at");
	write_small(path);
	/* Exists: refused without --force (usage error), replaced with it. */
	assert_int_equal(trace_writer__open(&w, path, false, 0), 2);
	assert_int_equal(trace_writer__open(&w, path, true, 0), 0);
	snprintf(tmp, sizeof(tmp), "%s", w.tmp_path);
	assert_int_equal(access(tmp, F_OK), 0);
	assert_int_equal(trace_writer__close(&w), 0);
	assert_int_not_equal(access(tmp, F_OK), 0);
	/* A directory, a symlink, a FIFO: refused even with --force. */
	assert_int_equal(trace_writer__open(&w, dir, true, 0), 2);
	path_of(link, sizeof(link), "link.at");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(trace_writer__open(&w, link, true, 0), 2);
	unlink(link);
	assert_int_equal(mkfifo(link, 0600), 0);
	assert_int_equal(trace_writer__open(&w, link, false, 0), 2);
	unlink(link);
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_max_size),
		cmocka_unit_test(test_file_safety),
	};

	if (!mkdtemp(dir))
		return 1;
	return cmocka_run_group_tests(tests, NULL, teardown);
}
