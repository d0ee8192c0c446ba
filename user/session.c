#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "recorder.h"
#include "heap.h"
#include "session.h"

#define MAX_MEASUREMENTS 4096
/* An arena is re-read from the page tables only after this long without events. */
#define QUIET_NS 100000000ULL

uint64_t session__clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A recording that ran out keeps its last time. */
uint64_t session__now_ns(void)
{
	static uint64_t last;
	uint64_t t;

	switch (input__take(IN_NOW, &t, sizeof(t))) {
	case INPUT_GOT:
		return last = t;
	case INPUT_NONE:
		return last;
	case INPUT_ASK_LIVE:
		break;
	}
	t = session__clock_ns();
	input__put(IN_NOW, &t, sizeof(t));
	return last = t;
}

void session__read_comm(struct session *s)
{
	const void *p;
	uint32_t n;

	switch (input__take_var(IN_COMM, &p, &n)) {
	case INPUT_GOT:
		if (n >= sizeof(s->target.comm))
			n = sizeof(s->target.comm) - 1;
		memcpy(s->target.comm, p, n);
		s->target.comm[n] = '\0';
		return;
	case INPUT_NONE:
		return;
	case INPUT_ASK_LIVE:
		break;
	}
	input__put(IN_COMM, s->target.comm, strlen(s->target.comm));
}

double session__since_start(const struct session *s, uint64_t ns)
{
	return ns > s->start_ns ? (ns - s->start_ns) / 1e9 : 0.0;
}

static bool resolve_vma(void *cookie, uint64_t addr, struct region *r)
{
	struct session *s = cookie;

	return events__lookup(s->target.pid, addr, r);
}

int session__seed(struct session *s)
{
	int err;

	pagemap__close(&s->pm);
	if (input__take(IN_PAGEMAP_OPEN, &err, sizeof(err)) == INPUT_ASK_LIVE) {
		err = pagemap__open(&s->pm, s->target.pid);
		input__put(IN_PAGEMAP_OPEN, &err, sizeof(err));
	} else if (input__exhausted()) {
		err = -EIO;
	}
	if (err) {
		fprintf(stderr, "arenatrace: cannot open /proc/%d/pagemap: %s\n", s->target.pid, strerror(-err));
		return err;
	}
	/* Stacks first: the seed tells the ledger's observers what is resident. */
	/* A recording made without stacks (or by a version that did not record
	 * them) has no module table here: replay it without stacks. */
	if (s->o->call_graph && (s->stacks || !s->replay || input__peek_type() == IN_MODULES)) {
		if (!s->stacks) {
			s->stacks = stacks__new(s->target.pid, s->o->debuginfod);
			stacks__attach(s->stacks, &s->ledger);
		} else {
			stacks__exec(s->stacks, s->target.pid);
		}
	}
	s->seed_ns = session__now_ns();
	err = residency__seed(&s->ledger, s->target.pid, &s->pm);
	/* The mappings found: no fault run of the kernel side crosses their ends. */
	for (size_t i = 0; !err && s->ld && i < s->ledger.nr_regions; i++) {
		loader__add_boundary(s->ld, s->slot, s->ledger.regions[i].start);
		loader__add_boundary(s->ld, s->slot, s->ledger.regions[i].end);
	}
	return err;
}

static void on_exec(void *cookie, const char *comm, const char *filename, uint64_t ts_ns)
{
	struct session *s = cookie;

	timeline__exec(s->tl, session__since_start(s, ts_ns), s->target.pid, comm, filename);
	if (!s->replay)
		target__read_comm(&s->target);
	session__read_comm(s);
	/* A new image: the old mappings are gone. Records already queued for the new
	 * image are older than this seed and are skipped. */
	if (session__seed(s))
		s->ledger.needs_full_reconcile = true;
	if (s->heap)
		heap__exec(s->heap);
}

static void on_exit_record(void *cookie, int exit_code, uint64_t ts_ns)
{
	struct session *s = cookie;

	(void)ts_ns;
	s->exit_seen = true;
	s->exit_raw = exit_code;
}

static void on_thread(void *cookie, uint32_t tid, uint64_t ts_ns)
{
	struct session *s = cookie;

	(void)tid;
	(void)ts_ns;
	s->threads_created++;
}

int session__apply_record(struct session *s, const void *data, size_t len)
{
	const struct arenatrace_syscall_record *sc = data;

	if (len >= sizeof(struct arenatrace_stack_record) && sc->type == ARENATRACE_REC_STACK) {
		if (s->stacks && sc->ts_ns >= s->seed_ns)
			stacks__on_record(s->stacks, &s->ledger, (void *)data, len);
		return 0;
	}
	events__apply(&s->ledger, s->target.pid, s->seed_ns, data, len, &s->sink, &s->est);
	/* A file mapped (a library loaded): its symbols may be needed. */
	if (s->stacks && len >= sizeof(*sc) && sc->type == ARENATRACE_REC_SYSCALL &&
	    sc->sys == ARENATRACE_SYS_MMAP && !(sc->args[3] & 0x20 /* MAP_ANONYMOUS */))
		stacks__refresh(s->stacks);
	/* ... and its allocator entry points probed (a dlopen'ed allocator). */
	if (s->heap && len >= sizeof(*sc) && sc->type == ARENATRACE_REC_SYSCALL &&
	    sc->sys == ARENATRACE_SYS_MMAP && !(sc->args[3] & 0x20) && (sc->args[2] & 4 /* PROT_EXEC */))
		heap__maps_changed(s->heap);
	return 0;
}

/* The record is logged first, so what it makes the tracer ask (an exec's seed,
 * a file's path) follows it in the recording. */
int session__on_record(void *cookie, void *data, size_t len)
{
	const struct arenatrace_syscall_record *sc = data;

	/* Stack samples are logged by stacks__on_record once unwound (IN_STACK):
	 * replay cannot unwind, the target's memory and threads are gone. */
	if (!(len >= sizeof(struct arenatrace_stack_record) && sc->type == ARENATRACE_REC_STACK))
		input__put_record(data, len);
	return session__apply_record(cookie, data, len);
}

/* /proc/PID/smaps_rollup Rss, for before the BPF side has seen the target's mm. */
static int64_t rollup_rss_pages(pid_t pid)
{
	char path[64], buf[256];
	unsigned long long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Rss: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (int64_t)kb / 4;
}

void session__fill_sample(struct session *s, struct sample *smp, bool final)
{
	int64_t pages;
	uint64_t lost;

	switch (input__take(IN_RSS, &pages, sizeof(pages))) {
	case INPUT_GOT:
		s->last_rss_pages = pages;
		break;
	case INPUT_NONE:
		break;
	case INPUT_ASK_LIVE:
		if (s->ld && loader__rss_pages(s->ld, s->slot, &pages))
			s->last_rss_pages = pages;
		else if (!s->target.exited && (pages = rollup_rss_pages(s->target.pid)) >= 0)
			s->last_rss_pages = pages;
		input__put(IN_RSS, &s->last_rss_pages, sizeof(s->last_rss_pages));
	}
	switch (input__take(IN_LOST, &lost, sizeof(lost))) {
	case INPUT_GOT:
		s->last_lost = lost;
		break;
	case INPUT_NONE:
		break;
	case INPUT_ASK_LIVE:
		s->last_lost = s->ld ? loader__stat(s->ld, ARENATRACE_STAT_LOST) : 0;
		input__put(IN_LOST, &s->last_lost, sizeof(s->last_lost));
	}
	memset(smp, 0, sizeof(*smp));
	smp->t = session__since_start(s, session__now_ns());
	smp->pid = s->target.pid;
	smp->comm = s->target.comm;
	smp->rss_bytes = (uint64_t)s->last_rss_pages * 4096;
	smp->accounted_bytes = (uint64_t)ledger__accounted_pages(&s->ledger) * 4096;
	smp->lost_events = s->last_lost;
	smp->drift_bytes = s->ledger.drift_pages * 4096;
	smp->unattributed_bytes = s->ledger.unattributed_pages * 4096;
	smp->threads_created = s->threads_created;
	smp->retained_bytes = retention__retained_total(s->retention, &s->ledger, session__now_ns());
	smp->final = final;
	if (s->heap)
		heap__tick(s->heap, &s->ledger, smp);
}

static bool needs_reconcile(const struct ledger *l)
{
	if (l->needs_full_reconcile)
		return true;
	for (const struct arena *a = l->arenas; a; a = a->next)
		if (a->needs_reconcile && !a->gone)
			return true;
	return false;
}

void session__reconcile(struct session *s)
{
	uint64_t t0;
	size_t n;

	if (s->target.exited || s->exit_seen || !needs_reconcile(&s->ledger) || input__exhausted())
		return;
	t0 = session__now_ns();
	n = residency__measure(&s->ledger, &s->pm, s->ledger.needs_full_reconcile,
			       t0 - QUIET_NS, s->measurements, MAX_MEASUREMENTS);
	if (s->drain)
		s->drain(s->drain_cookie);
	residency__apply(&s->ledger, s->measurements, n, t0);
}

uint64_t session__retained_of(void *cookie, const struct arena *a)
{
	struct session *s = cookie;
	struct arena_retention ar;

	if (s->heap) {   /* --heap: resident - live */
		uint64_t res = (uint64_t)a->resident_pages * 4096, live = a->live_bytes > 0 ? (uint64_t)a->live_bytes : 0;

		return res > live ? res - live : 0;
	}
	return retention__arena(s->retention, a, s->tick_now, &ar) ? ar.retained_bytes : 0;
}

void session__tick(struct session *s, struct sample *smp, bool final)
{
	uint64_t now;

	if (!final)
		session__reconcile(s);
	now = s->tick_now = session__now_ns();
	retention__tick(s->retention, &s->ledger, now);
	session__fill_sample(s, smp, final);
	timeline__sample(s->tl, smp, &s->ledger, s->retention, now, s->start_ns);
	if (s->keep_history)
		history__add(&s->history, smp, &s->ledger, session__retained_of, s);
}

void session__end_tick(struct session *s)
{
	ledger__collect_gone(&s->ledger);
}

void session__init(struct session *s, const struct options *o, struct timeline *tl, size_t history_points)
{
	s->o = o;
	s->tl = tl;
	s->pm.fd = -1;
	s->sink = (struct event_sink){ .exec = on_exec, .exit = on_exit_record, .thread = on_thread, .cookie = s };
	s->measurements = calloc(MAX_MEASUREMENTS, sizeof(*s->measurements));
	ledger__init(&s->ledger, resolve_vma, s);
	history__init(&s->history, history_points);
}

void session__free(struct session *s)
{
	pagemap__close(&s->pm);
	ledger__free(&s->ledger);
	retention__free(s->retention);
	stacks__free(s->stacks);
	history__free(&s->history);
	free(s->measurements);
	s->retention = NULL;
	s->stacks = NULL;
	s->measurements = NULL;
}
