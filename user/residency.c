#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "allocators.h"
#include "procmaps.h"
#include "recorder.h"
#include "residency.h"

#define MAX_THREADS 4096

/* The target whose memory the classifier may peek at (one per tracer). A seed
 * (attach or exec: a new mm) reopens /proc/PID/mem. */
static struct peek_target {
	pid_t pid;
	int fd;
} peek_target = { .fd = -1 };

static void seed_one(void *cookie, const struct region *r);

static bool peek(void *cookie, uint64_t addr, void *buf, size_t len)
{
	struct peek_target *t = cookie;
	unsigned char rec[1 + 4096];
	const unsigned char *p;
	uint32_t n;
	bool ok;

	/* The classifier reads headers of a few dozen bytes; a recorded answer
	 * holds at most 4 KiB, so nothing larger is read live either. */
	if (len > 4096)
		return false;
	switch (input__take_var(IN_PEEK, (const void **)&p, &n)) {
	case INPUT_GOT:
		if (n < 1 || !p[0] || n - 1 != len)
			return false;
		memcpy(buf, p + 1, len);
		return true;
	case INPUT_NONE:
		return false;
	case INPUT_ASK_LIVE:
		break;
	}
	ok = procmaps__peek(t->pid, &t->fd, addr, buf, len);
	rec[0] = ok;
	if (ok)
		memcpy(rec + 1, buf, len);
	input__put(IN_PEEK, rec, ok ? 1 + len : 1);
	return ok;
}

/* One walk of the page tables, recorded. */
static int64_t resident(struct pagemap *pm, uint64_t start, uint64_t end)
{
	int64_t n = -EIO;

	if (input__take(IN_MEASURE, &n, sizeof(n)) == INPUT_ASK_LIVE) {
		n = pagemap__resident(pm, start, end);
		input__put(IN_MEASURE, &n, sizeof(n));
	}
	return n;
}

static void seed_region_recorded(void *cookie, const struct region *r)
{
	input__put_region(IN_SEED_REGION, true, r);
	seed_one(cookie, r);
}

/* procmaps__for_each, recorded: one item per mapping, then the result. */
static int for_each_map(pid_t pid, struct ledger *l)
{
	int32_t err = -EIO;
	struct region r;
	bool ok;

	if (input__mode() != INPUT_REPLAY) {
		err = procmaps__for_each(pid, seed_region_recorded, l);
		input__put(IN_SEED_END, &err, sizeof(err));
		return err;
	}
	while (input__peek_type() == IN_SEED_REGION) {
		if (input__take_region(IN_SEED_REGION, &ok, &r) != INPUT_GOT)
			break;
		if (ok)
			seed_one(l, &r);
		free(r.path);
	}
	input__take(IN_SEED_END, &err, sizeof(err));
	return err;
}

/* The kernel merges neighbouring glibc heaps into one VMA when both are open
 * where they meet (a full heap and the heap chained right after it, or two
 * arenas' heaps). Seed them as separate regions, split where a heap_info starts,
 * so each heap is classified, and keyed, on its own. */
static void seed_one(void *cookie, const struct region *r)
{
	struct ledger *l = cookie;
	struct region piece = *r;

	if (region__is_anon(r) && !r->path && !r->shared && l->proc.peek &&
	    (l->proc.allocators & ALLOC_GLIBC)) {
		for (uint64_t b = (r->start + GLIBC_HEAP_MAX) & ~(GLIBC_HEAP_MAX - 1); b < r->end;
		     b += GLIBC_HEAP_MAX) {
			uint64_t ar_ptr, prev;

			if (!allocators__glibc_heap_info(l->proc.peek, l->proc.peek_cookie, b, &ar_ptr, &prev))
				continue;
			piece.end = b;
			ledger__seed_region(l, &piece);
			piece.start = b;
		}
		piece.end = r->end;
	}
	ledger__seed_region(l, &piece);
}

/* Field 47 of /proc/PID/stat: where the brk heap starts (even while empty). */
static uint64_t start_brk(pid_t pid)
{
	char path[64], buf[4096], *p;
	unsigned long long v = 0;
	FILE *f;
	int field = 2;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p)
		return 0;
	for (p++; *p && field < 47; p++)
		if (*p == ' ')
			field++;
	if (field == 47)
		sscanf(p, "%llu", &v);
	return v;
}

static int64_t arena_pages(struct ledger *l, struct pagemap *pm, const struct arena *a)
{
	int64_t sum = 0;

	for (size_t i = 0; i < l->nr_regions; i++) {
		const struct region *r = &l->regions[i];
		int64_t n;

		if (r->arena != a)
			continue;
		n = resident(pm, r->start, r->end);
		if (n < 0)
			return n;
		sum += n;
	}
	return sum;
}

int residency__seed(struct ledger *l, pid_t pid, struct pagemap *pm)
{
	uint64_t *sps = calloc(MAX_THREADS, sizeof(*sps));
	size_t nsps;
	int err;

	ledger__reset(l);
	if (input__mode() == INPUT_REPLAY) {
		const void *p;
		uint32_t n;

		nsps = 0;
		if (sps && input__take_var(IN_SPS, &p, &n) == INPUT_GOT) {
			nsps = n / sizeof(*sps) < MAX_THREADS ? n / sizeof(*sps) : MAX_THREADS;
			memcpy(sps, p, nsps * sizeof(*sps));
		}
	} else {
		nsps = sps ? procmaps__thread_sps(pid, sps, MAX_THREADS) : 0;
		input__put(IN_SPS, sps, nsps * sizeof(*sps));
	}
	ledger__set_thread_sps(l, sps, nsps);
	free(sps);
	if (peek_target.fd >= 0)
		close(peek_target.fd);
	peek_target.pid = pid;
	peek_target.fd = -1;
	if (input__take(IN_ALLOCATORS, &l->proc.allocators, sizeof(l->proc.allocators)) == INPUT_ASK_LIVE) {
		l->proc.allocators = allocators__detect(pid);
		input__put(IN_ALLOCATORS, &l->proc.allocators, sizeof(l->proc.allocators));
	}
	l->proc.peek = l->proc.no_peek ? NULL : peek;
	l->proc.peek_cookie = l->proc.no_peek ? NULL : &peek_target;
	err = for_each_map(pid, l);
	if (err) {
		fprintf(stderr, "arenatrace: cannot read /proc/%d/maps: %s\n", pid, strerror(-err));
		return err;
	}
	if (!l->brk_start) {
		uint64_t b = 0;

		if (input__take(IN_START_BRK, &b, sizeof(b)) == INPUT_ASK_LIVE) {
			b = start_brk(pid);
			input__put(IN_START_BRK, &b, sizeof(b));
		}

		l->brk_start = l->brk_end = AT_PAGE_ALIGN(b);
	}
	ledger__seed_done(l);
	for (size_t i = 0; i < l->nr_regions; i++) {
		struct region *r = &l->regions[i];
		int64_t n = resident(pm, r->start, r->end);

		if (n < 0) {
			fprintf(stderr, "arenatrace: cannot read /proc/%d/pagemap: %s\n", pid, strerror((int)-n));
			return (int)n;
		}
		r->arena->resident_pages += n;
		r->arena->peak_resident_pages = r->arena->resident_pages;
		/* ts 0: resident before we looked, of unknown age. */
		if (n)
			ledger__notify(l, r->arena, r->start, r->end, n, 0);
	}
	return 0;
}

size_t residency__measure(struct ledger *l, struct pagemap *pm, bool full, uint64_t quiet_since_ns,
			  struct measurement *out, size_t max)
{
	size_t n = 0;
	bool busy = false;

	for (struct arena *a = l->arenas; a && n < max; a = a->next) {
		int64_t pages;

		if (a->gone || !(full || a->needs_reconcile))
			continue;
		/* A busy arena may have faults in runs the kernel has not sent yet:
		 * a walk now would count them twice. Wait for it to settle. */
		if (a->last_change_ns > quiet_since_ns) {
			a->needs_reconcile = true;
			busy = true;
			continue;
		}
		pages = arena_pages(l, pm, a);
		if (pages < 0)
			continue;
		out[n].arena = a;
		out[n++].pages = pages;
	}
	if (full && !busy)
		l->needs_full_reconcile = false;
	return n;
}

void residency__apply(struct ledger *l, const struct measurement *m, size_t n, uint64_t started_ns)
{
	for (size_t i = 0; i < n; i++) {
		struct arena *a = m[i].arena;

		/* Changed while we walked: the walk may have seen half of it. Next time. */
		if (a->gone || a->last_change_ns >= started_ns) {
			if (!a->gone)
				a->needs_reconcile = true;
			continue;
		}
		ledger__correct(l, a, m[i].pages, started_ns);
	}
}
