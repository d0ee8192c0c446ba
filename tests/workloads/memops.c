// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * memops: deterministic memory workload for arenatrace's integration tests.
 *
 *   memops SCENARIO [ARGS...]
 *
 * At every checkpoint it prints one line to stdout and flushes it:
 *   READY <label> <hex_start>-<hex_end> [<hex_start>-<hex_end> ...]
 * (the half-open address ranges of interest, maybe none), then blocks until
 * it reads one line from stdin; on EOF it exits 0. At the end it prints DONE
 * and exits 0. Lines starting with '#' are informational.
 *
 * stdin is read with read(2) one byte at a time so that nothing is buffered
 * in user space (the exec scenario must not lose input across execv), and
 * stdout uses a static buffer so that the protocol itself never calls malloc
 * (the brk scenario moves the break by hand).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "workload.h"

#define KIB (1024UL)
#define MIB (1024UL * 1024UL)
#define PAGE 4096UL
#define HPAGE (2 * MIB)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif

static char stdout_buf[1 << 16];
static char tmp_path[64];

static void die(const char *what)
{
	fprintf(stderr, "memops: %s: %s\n", what, strerror(errno));
	exit(100);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: memops SCENARIO [ARGS]\n"
		"  anon-write MIB | zero-read MIB | thp | munmap-partial | mremap | brk |\n"
		"  mprotect-grow | dontneed | file MIB | split-block | populate MIB | hold MIB |\n"
		"  threads | burst [IDLE_MS] | exec | exit CODE\n");
	exit(2);
}

struct range {
	uintptr_t start, end;
};

static void checkpoint(const char *label, int n, const struct range *r)
{
	printf("READY %s", label);
	for (int i = 0; i < n; i++)
		printf(" %lx-%lx", (unsigned long)r[i].start, (unsigned long)r[i].end);
	printf("\n");
	fflush(stdout);
	wait_line();
}

static void checkpoint1(const char *label, void *p, size_t len)
{
	struct range r = { (uintptr_t)p, (uintptr_t)p + len };

	checkpoint(label, 1, &r);
}

static void *map_anon(size_t len, int prot, int extra_flags)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static void touch(void *p, size_t len, size_t step)
{
	volatile char *c = p;

	for (size_t off = 0; off < len; off += step)
		c[off] = 1;
}

static unsigned long read_only(const void *p, size_t len)
{
	const volatile char *c = p;
	unsigned long sum = 0;

	for (size_t off = 0; off < len; off += PAGE)
		sum += c[off];
	return sum;
}

static size_t mib_arg(int argc, char **argv, size_t dflt)
{
	if (argc < 3)
		return dflt * MIB;
	char *end;
	unsigned long v = strtoul(argv[2], &end, 10);

	if (*end || v == 0)
		usage();
	return v * MIB;
}

/* AnonHugePages of the mapping containing addr, in kB, from /proc/self/smaps. */
static long anon_huge_kb(uintptr_t addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = addr >= s && addr < e;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* ---------------------------------------------------------------- scenarios */

static int sc_anon_write(size_t len)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE, 0);

	touch(p, len, PAGE);
	checkpoint1("anon-write", p, len);
	return 0;
}

static int sc_zero_read(size_t len)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE, 0);
	unsigned long sum = read_only(p, len);

	if (sum)
		fprintf(stderr, "memops: zero page not zero?\n");
	checkpoint1("zero-read", p, len);
	touch(p, len / 2, PAGE);
	checkpoint1("half-written", p, len);
	return 0;
}

static int sc_thp(void)
{
	char *p = map_anon(8 * MIB, PROT_READ | PROT_WRITE, 0);
	char *a = (char *)(((uintptr_t)p + HPAGE - 1) & ~(HPAGE - 1));

	if (madvise(a, 4 * MIB, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	touch(a, 4 * MIB, HPAGE);
	printf("# thp AnonHugePages %ld kB\n", anon_huge_kb((uintptr_t)a));
	checkpoint1("thp", a, 4 * MIB);
	return 0;
}

static int sc_munmap_partial(void)
{
	char *p = map_anon(64 * MIB, PROT_READ | PROT_WRITE, 0);
	struct range r[2];

	touch(p, 64 * MIB, PAGE);
	checkpoint1("mapped", p, 64 * MIB);
	if (munmap(p + 24 * MIB, 16 * MIB))
		die("munmap middle");
	r[0] = (struct range){ (uintptr_t)p, (uintptr_t)p + 24 * MIB };
	r[1] = (struct range){ (uintptr_t)p + 40 * MIB, (uintptr_t)p + 64 * MIB };
	checkpoint("hole", 2, r);
	if (munmap(p, 8 * MIB))
		die("munmap head");
	r[0].start = (uintptr_t)p + 8 * MIB;
	checkpoint("head-gone", 2, r);
	return 0;
}

static int sc_mremap(void)
{
	char *p = map_anon(32 * MIB, PROT_READ | PROT_WRITE, 0);
	char *dst, *q;

	touch(p, 32 * MIB, PAGE);
	checkpoint1("mapped", p, 32 * MIB);
	/* Find a free 64 MiB hole elsewhere, then move the mapping into it. */
	dst = map_anon(64 * MIB, PROT_NONE, MAP_NORESERVE);
	if (munmap(dst, 64 * MIB))
		die("munmap reservation");
	q = mremap(p, 32 * MIB, 32 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (q == MAP_FAILED)
		die("mremap move");
	checkpoint1("moved", q, 32 * MIB);
	q = mremap(q, 32 * MIB, 48 * MIB, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		die("mremap grow");
	touch(q + 32 * MIB, 16 * MIB, PAGE);
	checkpoint1("grown", q, 48 * MIB);
	q = mremap(q, 48 * MIB, 16 * MIB, 0);
	if (q == MAP_FAILED)
		die("mremap shrink");
	checkpoint1("shrunk", q, 16 * MIB);
	return 0;
}

static int sc_brk(void)
{
	char *start = sbrk(0);

	for (int i = 0; i < 16; i++) {
		char *s = sbrk(4 * MIB);

		if (s == (void *)-1)
			die("sbrk grow");
		touch(s, 4 * MIB, PAGE);
	}
	checkpoint1("grown", start, 64 * MIB);
	if (sbrk(-(intptr_t)(48 * MIB)) == (void *)-1)
		die("sbrk shrink");
	checkpoint1("shrunk", start, 16 * MIB);
	return 0;
}

static int sc_mprotect_grow(void)
{
	const size_t heap = 64 * MIB;
	char *p = map_anon(2 * heap, PROT_NONE, MAP_NORESERVE);
	char *a = (char *)(((uintptr_t)p + heap - 1) & ~(heap - 1));

	/* Trim to a heap-aligned reservation, as glibc's new_heap() does. */
	if (a > p && munmap(p, a - p))
		die("munmap head");
	if (a + heap < p + 2 * heap && munmap(a + heap, p + 2 * heap - (a + heap)))
		die("munmap tail");
	for (int step = 0; step < 16; step++) {
		char *s = a + step * 4 * MIB;

		if (mprotect(s, 4 * MIB, PROT_READ | PROT_WRITE))
			die("mprotect");
		touch(s, 4 * MIB, PAGE);
		if (step == 7)
			checkpoint1("half-open", a, heap);
	}
	checkpoint1("open", a, heap);
	return 0;
}

static int sc_dontneed(void)
{
	char *p = map_anon(64 * MIB, PROT_READ | PROT_WRITE, 0);

	touch(p, 64 * MIB, PAGE);
	checkpoint1("mapped", p, 64 * MIB);
	if (madvise(p, 32 * MIB, MADV_DONTNEED))
		die("madvise(MADV_DONTNEED)");
	checkpoint1("dontneed", p, 64 * MIB);
	/* Lazily freed: stays resident until reclaim. */
	if (madvise(p + 32 * MIB, 8 * MIB, MADV_FREE))
		die("madvise(MADV_FREE)");
	checkpoint1("free", p, 64 * MIB);
	/* Reclaim the lazily freed part now (discarded even without swap). */
	if (madvise(p + 32 * MIB, 8 * MIB, MADV_PAGEOUT))
		die("madvise(MADV_PAGEOUT)");
	checkpoint1("pageout", p, 64 * MIB);
	return 0;
}

static void unlink_tmp(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
}

/* A temporary file of len bytes of 'x' (removed at exit), open for reading and
 * writing. */
static int tmp_file(size_t len)
{
	static char buf[64 * KIB];
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/memops-file-XXXXXX");
	fd = mkstemp(tmp_path);
	if (fd < 0)
		die("mkstemp");
	atexit(unlink_tmp);
	memset(buf, 'x', sizeof(buf));
	for (size_t off = 0; off < len; off += sizeof(buf))
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write");
	return fd;
}

static int sc_file(size_t len)
{
	int fd = tmp_file(len);
	struct range r[2];
	char *f, *s;

	f = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die("mmap file");
	read_only(f, len);
	r[0] = (struct range){ (uintptr_t)f, (uintptr_t)f + len };
	checkpoint("file", 1, r);
	s = mmap(NULL, 16 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		die("mmap shared");
	touch(s, 16 * MIB, PAGE);
	r[1] = (struct range){ (uintptr_t)s, (uintptr_t)s + 16 * MIB };
	checkpoint("shmem", 2, r);
	close(fd);
	return 0;
}

/*
 * One 2 MiB block holding two mappings that cannot merge: anonymous memory in
 * its first half, a private (copy-on-write) file mapping in its second. One
 * thread writes them in alternation, so every fault moves to the other mapping
 * inside the same block: a kernel-side run that crossed the boundary would
 * give one mapping's pages to the other.
 */
static int sc_split_block(void)
{
	int fd = tmp_file(MIB);
	uintptr_t base;
	struct range r[2];
	char *res, *a, *f;

	res = mmap(NULL, 2 * HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		die("mmap reservation");
	base = ((uintptr_t)res + HPAGE - 1) & ~(HPAGE - 1);
	a = mmap((void *)base, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	f = mmap((void *)(base + MIB), MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (a == MAP_FAILED || f == MAP_FAILED)
		die("mmap halves");
	for (size_t off = 0; off < MIB; off += PAGE) {
		a[off] = 1;
		f[off] = 1;
	}
	r[0] = (struct range){ base, base + MIB };
	r[1] = (struct range){ base + MIB, base + 2 * MIB };
	checkpoint("split-block", 2, r);
	close(fd);
	return 0;
}

static int sc_populate(size_t len)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE, MAP_POPULATE);

	checkpoint1("populate", p, len);
	return 0;
}

static int sc_hold(size_t len)
{
	size_t nmalloc = len / 2 / MIB, mlen = len - nmalloc * MIB;
	char *m = NULL;

	for (size_t i = 0; i < nmalloc; i++) {
		char *c = malloc(MIB);

		if (!c)
			die("malloc");
		touch(c, MIB, PAGE);
	}
	if (mlen) {
		m = map_anon(mlen, PROT_READ | PROT_WRITE, 0);
		touch(m, mlen, PAGE);
	}
	for (;;)
		checkpoint1("hold", m, mlen);
	return 0;
}

/* Deterministic per-thread PRNG. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

struct churn {
	int id;
	long objects;
	int keep_index;     /* keep the pointer array too (burst: nothing but the freed objects is released) */
	void **kept;
	long nkept;
};

static void *churn_thread(void *arg)
{
	struct churn *c = arg;
	void **all = malloc(c->objects * sizeof(void *));
	uint32_t seed = 12345u + c->id;

	if (!all)
		die("malloc");
	for (long i = 0; i < c->objects; i++) {
		size_t sz = 512 + lcg(&seed) % 385;

		all[i] = malloc(sz);
		if (!all[i])
			die("malloc");
		memset(all[i], (int)i, sz);
	}
	c->kept = malloc((c->objects / 50 + 1) * sizeof(void *));
	c->nkept = 0;
	for (long i = 0; i < c->objects; i++) {
		if (i % 50 == 49)
			c->kept[c->nkept++] = all[i];
		else
			free(all[i]);
	}
	if (!c->keep_index)
		free(all);
	return NULL;
}

static long run_churn(long objects, int keep_index)
{
	pthread_t t[4];
	struct churn c[4];
	long kept = 0;

	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ .id = i, .objects = objects, .keep_index = keep_index };
		if ((errno = pthread_create(&t[i], NULL, churn_thread, &c[i])))
			die("pthread_create");
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		kept += c[i].nkept;
	}
	return kept;
}

/* burst: a quiet second, then 4 threads fault in ~140 MiB of small objects and
 * free 98% of them (glibc keeps it all), then quiet for IDLE_MS before the
 * checkpoint, so the retention numbers have something to say. */
static int sc_burst(int argc, char **argv)
{
	long idle_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 2500;
	long kept;

	usleep(1000 * 1000);
	kept = run_churn(200000, 1);
	printf("# burst kept %ld objects\n", kept);
	usleep(idle_ms * 1000);
	checkpoint("burst", 0, NULL);
	return 0;
}

static int sc_threads(void)
{
	long kept = run_churn(50000, 0);

	printf("# threads kept %ld objects\n", kept);
	checkpoint("threads", 0, NULL);
	return 0;
}

static int sc_exec(char **argv)
{
	char *const args[] = { argv[0], "anon-write", "16", NULL };

	checkpoint("pre-exec", 0, NULL);
	execv("/proc/self/exe", args);
	die("execv");
	return 1;
}

static int sc_exit(int argc, char **argv)
{
	int code;
	char *p;

	if (argc < 3)
		usage();
	code = atoi(argv[2]);
	p = map_anon(8 * MIB, PROT_READ | PROT_WRITE, 0);
	touch(p, 8 * MIB, PAGE);
	fflush(stdout);
	_exit(code);
}

int main(int argc, char **argv)
{
	const char *s;
	int rc;

	setvbuf(stdout, stdout_buf, _IOFBF, sizeof(stdout_buf));
	if (argc < 2)
		usage();
	s = argv[1];
	if (!strcmp(s, "anon-write"))
		rc = sc_anon_write(mib_arg(argc, argv, 64));
	else if (!strcmp(s, "zero-read"))
		rc = sc_zero_read(mib_arg(argc, argv, 64));
	else if (!strcmp(s, "thp"))
		rc = sc_thp();
	else if (!strcmp(s, "munmap-partial"))
		rc = sc_munmap_partial();
	else if (!strcmp(s, "mremap"))
		rc = sc_mremap();
	else if (!strcmp(s, "brk"))
		rc = sc_brk();
	else if (!strcmp(s, "mprotect-grow"))
		rc = sc_mprotect_grow();
	else if (!strcmp(s, "dontneed"))
		rc = sc_dontneed();
	else if (!strcmp(s, "file"))
		rc = sc_file(mib_arg(argc, argv, 64));
	else if (!strcmp(s, "split-block"))
		rc = sc_split_block();
	else if (!strcmp(s, "populate"))
		rc = sc_populate(mib_arg(argc, argv, 64));
	else if (!strcmp(s, "hold"))
		rc = sc_hold(mib_arg(argc, argv, 64));
	else if (!strcmp(s, "threads"))
		rc = sc_threads();
	else if (!strcmp(s, "burst"))
		rc = sc_burst(argc, argv);
	else if (!strcmp(s, "exec"))
		rc = sc_exec(argv);
	else if (!strcmp(s, "exit"))
		rc = sc_exit(argc, argv);
	else
		usage();
	printf("DONE\n");
	fflush(stdout);
	return rc;
}
