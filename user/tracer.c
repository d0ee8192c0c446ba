#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "csv_export.h"
#include "diagnosis.h"
#include "events.h"
#include "history.h"
#include "folded_export.h"
#include "heap.h"
#include "html_report.h"
#include "pprof_export.h"
#include "profile.h"
#include "stacks.h"
#include "ledger.h"
#include "live_view.h"
#include "loader.h"
#include "pagemap.h"
#include "procmaps.h"
#include "recorder.h"
#include "residency.h"
#include "retention.h"
#include "sample.h"
#include "target.h"
#include "timeline.h"
#include "trace_file.h"
#include "tracer.h"

#define MAX_MEASUREMENTS 4096
/* An arena is re-read from the page tables only after this long without events. */
#define QUIET_NS 100000000ULL

struct tracer {
	const struct options *o;
	struct target target;
	struct loader ld;
	struct ledger ledger;
	struct pagemap pm;
	struct timeline tl;
	struct event_stats est;
	struct event_sink sink;
	uint64_t start_ns, seed_ns;
	uint64_t threads_created;
	int64_t last_rss_pages;
	bool exit_seen;
	int exit_raw;          /* kernel wait status from the exit record */
	bool live;             /* live table on */
	struct measurement *measurements;
	struct retention *retention;
	struct history history;    /* for --html and --csv */
	struct stacks *stacks;     /* with --call-graph, --folded, --pprof */
	uint64_t start_unix_ms;
	uint64_t tick_now;         /* the clock of the sample being made */
	uint64_t last_lost;
	bool replay;               /* `report`: inputs come from a recording */
	struct trace_writer rec;   /* -o */
	bool recording;
	bool no_summary;           /* report -q */
	struct heap *heap;         /* --heap */
};

/* Points kept for the end-of-run reports; older ones coarsen beyond this. */
#define HISTORY_POINTS 1024

static volatile sig_atomic_t stop_requests;

static void on_signal(int sig)
{
	if (++stop_requests > 1 && sig == SIGINT) {
		/* Second Ctrl-C: the user wants out now. JSON lines written so far stay. */
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	}
}

/* The clock for pacing the loop only: never seen by the analysis. */
static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The clock as the analysis sees it: recorded with -o, replayed by `report`
 * (where a recording that ran out keeps its last time). */
static uint64_t now_ns(void)
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
	t = clock_ns();
	input__put(IN_NOW, &t, sizeof(t));
	return last = t;
}

static void read_comm(struct tracer *tr)
{
	const void *p;
	uint32_t n;

	switch (input__take_var(IN_COMM, &p, &n)) {
	case INPUT_GOT:
		if (n >= sizeof(tr->target.comm))
			n = sizeof(tr->target.comm) - 1;
		memcpy(tr->target.comm, p, n);
		tr->target.comm[n] = '\0';
		return;
	case INPUT_NONE:
		return;
	case INPUT_ASK_LIVE:
		break;
	}
	input__put(IN_COMM, tr->target.comm, strlen(tr->target.comm));
}

static double since_start(const struct tracer *tr, uint64_t ns)
{
	return ns > tr->start_ns ? (ns - tr->start_ns) / 1e9 : 0.0;
}

static bool resolve_vma(void *cookie, uint64_t addr, struct region *r)
{
	struct tracer *tr = cookie;

	return events__lookup(tr->target.pid, addr, r);
}

static int seed(struct tracer *tr)
{
	int err;

	pagemap__close(&tr->pm);
	if (input__take(IN_PAGEMAP_OPEN, &err, sizeof(err)) == INPUT_ASK_LIVE) {
		err = pagemap__open(&tr->pm, tr->target.pid);
		input__put(IN_PAGEMAP_OPEN, &err, sizeof(err));
	} else if (input__exhausted()) {
		err = -EIO;
	}
	if (err) {
		fprintf(stderr, "arenatrace: cannot open /proc/%d/pagemap: %s\n", tr->target.pid, strerror(-err));
		return err;
	}
	/* Stacks first: the seed tells the ledger's observers what is resident. */
	/* A recording made without stacks (or by a version that did not record
	 * them) has no module table here: replay it without stacks. */
	if (tr->o->call_graph && (tr->stacks || !tr->replay || input__peek_type() == IN_MODULES)) {
		if (!tr->stacks) {
			tr->stacks = stacks__new(tr->target.pid, tr->o->debuginfod);
			stacks__attach(tr->stacks, &tr->ledger);
		} else {
			stacks__exec(tr->stacks, tr->target.pid);
		}
	}
	tr->seed_ns = now_ns();
	err = residency__seed(&tr->ledger, tr->target.pid, &tr->pm);
	return err;
}

static void on_exec(void *cookie, const char *comm, const char *filename, uint64_t ts_ns)
{
	struct tracer *tr = cookie;

	timeline__exec(&tr->tl, since_start(tr, ts_ns), tr->target.pid, comm, filename);
	if (!tr->replay)
		target__read_comm(&tr->target);
	read_comm(tr);
	/* A new image: the old mappings are gone. Records already queued for the new
	 * image are older than this seed and are skipped. */
	if (seed(tr))
		tr->ledger.needs_full_reconcile = true;
	if (tr->heap)
		heap__exec(tr->heap);
}

static void on_exit_record(void *cookie, int exit_code, uint64_t ts_ns)
{
	struct tracer *tr = cookie;

	(void)ts_ns;
	tr->exit_seen = true;
	tr->exit_raw = exit_code;
}

static void on_thread(void *cookie, uint32_t tid, uint64_t ts_ns)
{
	struct tracer *tr = cookie;

	(void)tid;
	(void)ts_ns;
	tr->threads_created++;
}

static int apply_record(struct tracer *tr, const void *data, size_t len)
{
	const struct arenatrace_syscall_record *sc = data;

	if (len >= sizeof(struct arenatrace_stack_record) && sc->type == ARENATRACE_REC_STACK) {
		if (tr->stacks && sc->ts_ns >= tr->seed_ns)
			stacks__on_record(tr->stacks, &tr->ledger, (void *)data, len);
		return 0;
	}
	events__apply(&tr->ledger, tr->target.pid, tr->seed_ns, data, len, &tr->sink, &tr->est);
	/* A file mapped (a library loaded): its symbols may be needed. */
	if (tr->stacks && len >= sizeof(*sc) && sc->type == ARENATRACE_REC_SYSCALL &&
	    sc->sys == ARENATRACE_SYS_MMAP && !(sc->args[3] & 0x20 /* MAP_ANONYMOUS */))
		stacks__refresh(tr->stacks);
	/* ... and its allocator entry points probed (a dlopen'ed allocator). */
	if (tr->heap && len >= sizeof(*sc) && sc->type == ARENATRACE_REC_SYSCALL &&
	    sc->sys == ARENATRACE_SYS_MMAP && !(sc->args[3] & 0x20) && (sc->args[2] & 4 /* PROT_EXEC */))
		heap__maps_changed(tr->heap);
	return 0;
}

/* The ring buffer's callback: the record is logged first, so what it makes the
 * tracer ask (an exec's seed, a file's path) follows it in the recording. */
static int on_record(void *cookie, void *data, size_t len)
{
	const struct arenatrace_syscall_record *sc = data;

	/* Stack samples are logged by stacks__on_record once unwound (IN_STACK):
	 * replay cannot unwind, the target's memory and threads are gone. */
	if (!(len >= sizeof(struct arenatrace_stack_record) && sc->type == ARENATRACE_REC_STACK))
		input__put_record(data, len);
	return apply_record(cookie, data, len);
}

/* Applies every record waiting: from the ring buffer, or the recording's next ones. */
static int drain(struct tracer *tr)
{
	/* A record as the kernel sent it; exec records are the largest. */
	_Alignas(8) unsigned char rec[512];
	const void *p;
	uint32_t n;
	int err = 0;

	if (!tr->replay) {
		err = loader__drain(&tr->ld);
		/* After the main ring: the mappings the blocks sit in are known. */
		if (tr->heap && err >= 0 && heap__drain(tr->heap, tr->stacks, &tr->ledger) < 0)
			err = -EIO;
		input__put(IN_DRAIN_END, NULL, 0);
		return err;
	}
	for (;;) {
		uint32_t t = input__peek_type();

		if (t == IN_STACK) {
			if (!stacks__replay_item(tr->stacks, &tr->ledger))
				break;
		} else if ((t == IN_RECORD || t == IN_RUN) && input__take_record(rec, sizeof(rec), &n) == INPUT_GOT) {
			apply_record(tr, rec, n);
		} else {
			break;
		}
	}
	if (input__peek_type() == IN_DRAIN_END)
		input__take_var(IN_DRAIN_END, &p, &n);
	return 0;
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

static void fill_sample(struct tracer *tr, struct sample *s, bool final)
{
	int64_t pages;
	uint64_t lost;

	switch (input__take(IN_RSS, &pages, sizeof(pages))) {
	case INPUT_GOT:
		tr->last_rss_pages = pages;
		break;
	case INPUT_NONE:
		break;
	case INPUT_ASK_LIVE:
		if (loader__rss_pages(&tr->ld, &pages))
			tr->last_rss_pages = pages;
		else if (!tr->target.exited && (pages = rollup_rss_pages(tr->target.pid)) >= 0)
			tr->last_rss_pages = pages;
		input__put(IN_RSS, &tr->last_rss_pages, sizeof(tr->last_rss_pages));
	}
	switch (input__take(IN_LOST, &lost, sizeof(lost))) {
	case INPUT_GOT:
		tr->last_lost = lost;
		break;
	case INPUT_NONE:
		break;
	case INPUT_ASK_LIVE:
		tr->last_lost = loader__stat(&tr->ld, ARENATRACE_STAT_LOST);
		input__put(IN_LOST, &tr->last_lost, sizeof(tr->last_lost));
	}
	memset(s, 0, sizeof(*s));
	s->t = since_start(tr, now_ns());
	s->pid = tr->target.pid;
	s->comm = tr->target.comm;
	s->rss_bytes = (uint64_t)tr->last_rss_pages * 4096;
	s->accounted_bytes = (uint64_t)ledger__accounted_pages(&tr->ledger) * 4096;
	s->lost_events = tr->last_lost;
	s->drift_bytes = tr->ledger.drift_pages * 4096;
	s->unattributed_bytes = tr->ledger.unattributed_pages * 4096;
	s->threads_created = tr->threads_created;
	s->retained_bytes = retention__retained_total(tr->retention, &tr->ledger, now_ns());
	s->final = final;
	if (tr->heap)
		heap__tick(tr->heap, &tr->ledger, s);
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

static void reconcile(struct tracer *tr)
{
	uint64_t t0;
	size_t n;

	if (tr->target.exited || tr->exit_seen || !needs_reconcile(&tr->ledger) || input__exhausted())
		return;
	t0 = now_ns();
	n = residency__measure(&tr->ledger, &tr->pm, tr->ledger.needs_full_reconcile,
			       t0 - QUIET_NS, tr->measurements, MAX_MEASUREMENTS);
	drain(tr);
	residency__apply(&tr->ledger, tr->measurements, n, t0);
}

static uint64_t retained_of(void *cookie, const struct arena *a)
{
	struct tracer *tr = cookie;
	struct arena_retention ar;

	if (tr->heap) {   /* --heap: resident - live */
		uint64_t res = (uint64_t)a->resident_pages * 4096, live = a->live_bytes > 0 ? (uint64_t)a->live_bytes : 0;

		return res > live ? res - live : 0;
	}
	return retention__arena(tr->retention, a, tr->tick_now, &ar) ? ar.retained_bytes : 0;
}

/* --html and --csv, written at the end; returns 0 or an exit code. */
static int write_reports(struct tracer *tr, uint64_t now, const char *diagnosis)
{
	struct profile *p = NULL;	/* with stacks: for --folded, --pprof and --html */
	int err = 0;

	if (tr->o->csv_path && csv_export__write(tr->o->csv_path, &tr->history))
		err = EXIT_RUNTIME;
	if (tr->stacks && (tr->o->folded_path || tr->o->pprof_path || tr->o->html_path)) {
		p = profile__new();
		stacks__export(tr->stacks, &tr->ledger, p);
		if (tr->o->verbose) {
			struct stacks_stats st;

			stacks__stats(tr->stacks, &st);
			fprintf(stderr, "arenatrace: stacks: %llu samples (%llu faults, %llu growth, %llu release), "
				"%llu distinct, %llu not unwound\n",
				(unsigned long long)st.samples, (unsigned long long)st.fault_samples,
				(unsigned long long)st.growth_samples, (unsigned long long)st.release_samples,
				(unsigned long long)st.distinct_stacks, (unsigned long long)st.unwind_failures);
		}
		if (tr->o->folded_path &&
		    folded_export__write(tr->o->folded_path, p, (enum profile_type)tr->o->folded_profile))
			err = EXIT_RUNTIME;
		if (tr->o->pprof_path &&
		    pprof_export__write(tr->o->pprof_path, p, now - tr->start_ns, tr->start_unix_ms * 1000000ULL))
			err = EXIT_RUNTIME;
	}
	if (tr->o->html_path) {
		struct html_report_input in = {
			.history = &tr->history, .pid = tr->target.pid, .comm = tr->target.comm,
			.command = tr->o->cmd, .ledger = &tr->ledger, .retention = tr->retention,
			.start_ns = tr->start_ns, .now_ns = now, .start_unix_ms = tr->start_unix_ms,
			.interval_s = tr->o->interval_s, .diagnosis = diagnosis, .profile = p,
			.heap = tr->heap != NULL,
		};

		if (html_report__write(tr->o->html_path, &in))
			err = EXIT_RUNTIME;
	}
	profile__free(p);
	return err;
}

/* --heap: what the probes saw, and what they could not. */
static void heap_summary(struct tracer *tr, FILE *out)
{
	struct heap_stats st;

	heap__stats(tr->heap, &st);
	fprintf(out, "\nHeap (--heap, %s%s): %llu allocations (%.1f MiB), %llu frees, %llu uprobes",
		heap__mode(tr->heap), tr->o->heap_sample ? ", weights unbiased" : "",
		(unsigned long long)st.allocs, st.alloc_bytes / 1048576.0, (unsigned long long)st.frees,
		(unsigned long long)st.probes);
	if (st.probe_failures)
		fprintf(out, " (%llu failed to attach)", (unsigned long long)st.probe_failures);
	fputc('\n', out);
	if (!st.probes)
		fprintf(out, "  no allocator entry point was probed: live bytes are unknown (0)\n");
	if (st.unknown_frees)
		fprintf(out, "  %llu frees of blocks never seen allocated, ignored: allocated before the probes%s, "
			"or handed back by the allocator itself (glibc's tcache at thread exit)\n",
			(unsigned long long)st.unknown_frees, tr->o->cmd ? "" : " (live bytes cover only blocks "
			"allocated since the attach)");
	if (st.lost || st.blocks_full || st.pages_full)
		fprintf(out, "  lost: %llu blocks (block map full), %llu (page map full), %llu ring records\n",
			(unsigned long long)st.blocks_full, (unsigned long long)st.pages_full,
			(unsigned long long)st.lost);
	if (st.unplaced_bytes)
		fprintf(out, "  %.1f MiB live in no known mapping\n", st.unplaced_bytes / 1048576.0);
}

/* The end: bursts, the diagnosis, the summary on the terminal, the reports. */
static int conclude(struct tracer *tr, const struct sample *s, uint64_t now)
{
	FILE *out = tr->live || !tr->o->json_path || strcmp(tr->o->json_path, "-") ? stdout : stderr;
	struct diagnosis d;
	char text[4096];

	retention__update_bursts(tr->retention, &tr->ledger);
	timeline__bursts(&tr->tl, s, &tr->ledger, tr->retention, tr->start_ns);
	if (tr->heap) {
		diagnosis__make_heap(&d, &tr->ledger, tr->retention, s->rss_bytes, s->live_bytes, now);
		d.unknown_frees = s->heap_unknown_frees;
		d.since_attach = !tr->o->cmd;
		d.sampled = tr->o->heap_sample != 0;
	} else {
		diagnosis__make(&d, &tr->ledger, tr->retention, s->rss_bytes, now);
	}
	diagnosis__text(&d, tr->o->retain_after_s, text, sizeof(text));
	timeline__diagnosis(&tr->tl, s, &d, text);
	if (!tr->no_summary) {
		live_view__summary(out, s, &tr->ledger, tr->o->top);
		live_view__bursts(out, tr->retention, tr->start_ns);
		if (tr->heap)
			heap_summary(tr, out);
		fprintf(out, "\n%s", text);
		fflush(out);
	}
	return write_reports(tr, now, text);
}

static int tick(struct tracer *tr, bool final)
{
	struct sample s;
	uint64_t now;
	int err = 0;

	if (!final)
		input__put(IN_TICK, NULL, 0);
	drain(tr);
	if (!final)
		reconcile(tr);
	now = tr->tick_now = now_ns();
	retention__tick(tr->retention, &tr->ledger, now);
	fill_sample(tr, &s, final);
	timeline__sample(&tr->tl, &s, &tr->ledger, tr->retention, now, tr->start_ns);
	if (tr->o->html_path || tr->o->csv_path)
		history__add(&tr->history, &s, &tr->ledger, retained_of, tr);
	if (final)
		err = conclude(tr, &s, now);
	else if (tr->live)
		live_view__draw(stdout, &s, &tr->ledger, tr->o->top);
	ledger__collect_gone(&tr->ledger);
	if (tr->recording)
		trace_writer__flush(&tr->rec);
	return err;
}

static void write_exit(struct tracer *tr)
{
	int status, sig = 0;

	if (tr->exit_seen) {
		status = (tr->exit_raw >> 8) & 0xff;
		sig = tr->exit_raw & 0x7f;
	} else {
		status = tr->target.exit_status >= 128 ? 0 : tr->target.exit_status;
		sig = tr->target.exit_status >= 128 ? tr->target.exit_status - 128 : 0;
	}
	timeline__exit(&tr->tl, since_start(tr, now_ns()), tr->target.pid, status, sig);
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int run_loop(struct tracer *tr)
{
	const struct options *o = tr->o;
	uint64_t interval = (uint64_t)(o->interval_s * 1e9);
	uint64_t poll = interval / 4 < 50000000ULL ? interval / 4 : 50000000ULL;
	uint64_t next_tick = tr->start_ns + interval;
	uint64_t deadline = o->duration_s > 0 ? tr->start_ns + (uint64_t)(o->duration_s * 1e9) : 0;

	while (!stop_requests) {
		struct timespec ts = { .tv_sec = poll / 1000000000ULL, .tv_nsec = poll % 1000000000ULL };
		uint64_t now;

		nanosleep(&ts, NULL);
		if (drain(tr) < 0) {
			fprintf(stderr, "arenatrace: reading the ring buffer failed\n");
			return EXIT_RUNTIME;
		}
		now = clock_ns();
		if (tr->exit_seen || target__poll_exit(&tr->target)) {
			/* Let the exit record and the last events arrive. */
			drain(tr);
			if (!tr->exit_seen)
				target__poll_exit(&tr->target);
			break;
		}
		if (deadline && now >= deadline)
			break;
		if (now >= next_tick) {
			tick(tr, false);
			while (next_tick <= now)
				next_tick += interval;
		}
	}
	return EXIT_OK;
}

static void tracer_init(struct tracer *tr, const struct options *o)
{
	tr->o = o;
	tr->pm.fd = -1;
	tr->sink = (struct event_sink){ .exec = on_exec, .exit = on_exit_record, .thread = on_thread, .cookie = tr };
	tr->live = !o->quiet && isatty(STDOUT_FILENO) && !(o->json_path && !strcmp(o->json_path, "-")) &&
		   !tr->replay;
	tr->measurements = calloc(MAX_MEASUREMENTS, sizeof(*tr->measurements));
	ledger__init(&tr->ledger, resolve_vma, tr);
	history__init(&tr->history, HISTORY_POINTS);
}

static void tracer_free(struct tracer *tr)
{
	pagemap__close(&tr->pm);
	ledger__free(&tr->ledger);
	retention__free(tr->retention);
	stacks__free(tr->stacks);
	history__free(&tr->history);
	free(tr->measurements);
}

/* The first item of a recording: what `report` needs to redo the analysis. */
static void put_meta(struct tracer *tr)
{
	const struct options *o = tr->o;
	struct input_meta m = {
		.pid = tr->target.pid, .launch = o->cmd != NULL, .interval_s = o->interval_s,
		.retain_after_s = o->retain_after_s, .top = o->top, .call_graph = o->call_graph,
	};
	char buf[8192];
	size_t n = sizeof(m);

	memcpy(buf, &m, sizeof(m));
	for (char **w = o->cmd; w && *w; w++) {
		size_t l = strlen(*w) + 1;

		if (n + l > sizeof(buf))
			break;
		memcpy(buf + n, *w, l);
		n += l;
	}
	input__put(IN_META, buf, n);
}

/* The wall clock at the start, recorded. */
static uint64_t start_unix_ms(void)
{
	uint64_t ms = 0;

	if (input__take(IN_UNIX_MS, &ms, sizeof(ms)) == INPUT_ASK_LIVE) {
		ms = (uint64_t)time(NULL) * 1000;
		input__put(IN_UNIX_MS, &ms, sizeof(ms));
	}
	return ms;
}

/* After the seed: the first sample and the meta record (live and replay alike). */
static void begin_timeline(struct tracer *tr, const char *mode)
{
	struct sample s;

	fill_sample(tr, &s, false);
	tr->start_unix_ms = start_unix_ms();
	timeline__meta(&tr->tl, &s, tr->o->interval_s, mode, tr->o->cmd, tr->start_unix_ms,
		       tr->ledger.proc.allocators);
}

/* After the loop: the exit record and the final records. Returns an exit code. */
static int finish(struct tracer *tr, int err)
{
	if (tr->exit_seen || tr->target.exited)
		write_exit(tr);
	if (tick(tr, true) && !err)
		err = EXIT_RUNTIME;
	if (tr->est.malformed)
		fprintf(stderr, "arenatrace: %llu malformed records ignored\n", (unsigned long long)tr->est.malformed);
	if (!err && tr->tl.failed)
		err = EXIT_RUNTIME;
	return err;
}

/* --heap, launch mode: the allocators it will load, probed before it runs. A
 * library found only later (dlopen, an unusual libc path) is probed when mapped. */
static void heap_attach_launch(struct tracer *tr)
{
	int n = heap__attach_launch(tr->heap);

	if (n < 0)
		fprintf(stderr, "arenatrace: --heap: warning: some allocator entry points could not be probed; "
			"live bytes miss their calls\n");
	else if (!n)
		fprintf(stderr, "arenatrace: --heap: warning: no known allocator (glibc, jemalloc, tcmalloc, "
			"mimalloc) found for %s yet; one loaded later is probed when mapped, until then live "
			"bytes are 0\n", tr->o->cmd[0]);
}

/* --heap, attach mode: probe what is mapped. Returns 0 or an exit code. */
static int heap_attach_running(struct tracer *tr)
{
	int n = heap__rescan(tr->heap);

	if (!heap__probing(tr->heap)) {
		if (n < 0)
			fprintf(stderr, "arenatrace: --heap: attaching uprobes to the allocator of PID %d failed "
				"(run with -v for each failure)\n", tr->target.pid);
		else
			fprintf(stderr, "arenatrace: --heap: PID %d uses no allocator arenatrace knows (glibc, "
				"jemalloc, tcmalloc, mimalloc, in a library or its executable); run without --heap\n",
				tr->target.pid);
		return n < 0 ? EXIT_RUNTIME : EXIT_USAGE;
	}
	if (n < 0)
		fprintf(stderr, "arenatrace: --heap: warning: some allocator entry points could not be probed; "
			"live bytes miss their calls\n");
	fprintf(stderr, "arenatrace: --heap: attached to a running process: live bytes count only blocks "
		"allocated from now on\n");
	return 0;
}

int tracer__run(const struct options *o)
{
	struct tracer tr = { .o = o };
	const char *mode = o->cmd ? "launch" : "attach";
	int err;

	/* The file first: a bad -o path must not launch anything. */
	if (o->record_path) {
		err = trace_writer__open(&tr.rec, o->record_path, o->force, o->max_size);
		if (err)
			return err;
		tr.recording = true;
		input__record(&tr.rec);
	}
	tracer_init(&tr, o);
	install_signals();

	err = o->cmd ? target__fork(&tr.target, o->cmd) : target__attach(&tr.target, o->pid);
	if (err)
		goto cleanup;
	put_meta(&tr);
	tr.retention = retention__new(o->retain_after_s, now_ns());
	retention__attach(tr.retention, &tr.ledger);
	err = loader__start(&tr.ld, tr.target.pid, o->btf_path, o->verbose, o->call_graph, o->sample_bytes,
			    on_record, &tr);
	if (err)
		goto cleanup;
	if (o->heap) {
		struct heap_config hc = {
			.pid = tr.target.pid, .sample_bytes = o->heap_sample, .stack_mode = o->call_graph,
			.stack_sample_bytes = o->sample_bytes, .verbose = o->verbose,
		};

		tr.heap = heap__new(&hc);
		if (!tr.heap) {
			err = EXIT_RUNTIME;
			goto cleanup;
		}
	}
	if (timeline__open(&tr.tl, o->json_path)) {
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	if (tr.heap) {
		tr.tl.heap_mode = heap__mode(tr.heap);
		tr.tl.heap_sample_bytes = heap__sample_bytes(tr.heap);
	}
	tr.start_ns = now_ns();
	if (o->cmd) {
		err = target__exec_stopped(&tr.target, o->cmd);
		if (err)
			goto cleanup;
		read_comm(&tr);
		if (tr.heap)
			heap_attach_launch(&tr);
		if (seed(&tr)) {
			err = EXIT_RUNTIME;
			goto cleanup;
		}
		target__resume(&tr.target);
	} else {
		read_comm(&tr);
		if (seed(&tr)) {
			err = tr.target.exited || target__poll_exit(&tr.target) ? EXIT_USAGE : EXIT_RUNTIME;
			goto cleanup;
		}
		/* The target ran while we read it: one check against the page tables. */
		tr.ledger.needs_full_reconcile = true;
		if (tr.heap && (err = heap_attach_running(&tr)))
			goto cleanup;
	}
	begin_timeline(&tr, mode);

	err = run_loop(&tr);
	{
		unsigned char stop[5] = { tr.target.exited };

		memcpy(stop + 1, &tr.target.exit_status, 4);
		input__put(IN_STOP, stop, sizeof(stop));
	}
	err = finish(&tr, err);

cleanup:
	if (timeline__close(&tr.tl) && !err)
		err = EXIT_RUNTIME;
	if (o->cmd && !tr.target.exited && tr.target.go_fd >= 0) {
		/* Never released: the child sees EOF on its pipe and exits. */
		target__close(&tr.target);
		target__poll_exit(&tr.target);
	}
	heap__free(tr.heap);
	loader__stop(&tr.ld);
	target__close(&tr.target);
	tracer_free(&tr);
	if (tr.recording) {
		input__reset();
		if (trace_writer__close(&tr.rec) && !err)
			err = EXIT_RUNTIME;
	}
	return err;
}

/* Replays the recording r with the output options of o (report.c). */
int tracer__replay(struct options *o, struct trace_reader *r, bool summary)
{
	struct tracer tr = { .replay = true };
	struct input_meta m;
	const char *p;
	uint32_t n;
	char *words[64];
	size_t nw = 0;
	int err = 0;

	uint64_t t0 = clock_ns();

	input__replay(r);
	if (input__take_var(IN_META, (const void **)&p, &n) != INPUT_GOT || n < sizeof(m)) {
		fprintf(stderr, "arenatrace: report: the recording has no run metadata%s%s\n",
			r->status != TRACE_EOF ? ": " : "", r->status != TRACE_EOF ? r->msg : "");
		input__reset();
		return EXIT_RUNTIME;
	}
	memcpy(&m, p, sizeof(m));
	/* The command words, NUL-terminated each (a last unterminated one is cut). */
	for (uint32_t i = sizeof(m); i < n && nw < 63; ) {
		const char *end = memchr(p + i, '\0', n - i);

		if (!end)
			break;
		words[nw++] = strdup(p + i);
		i = (uint32_t)(end - p) + 1;
	}
	words[nw] = NULL;
	o->cmd = m.launch ? words : NULL;
	o->pid = m.pid;
	o->interval_s = m.interval_s > 0 && m.interval_s < 1e9 ? m.interval_s : 1.0;
	o->retain_after_s = m.retain_after_s >= 0 && m.retain_after_s < 1e9 ? m.retain_after_s : 30.0;
	if (!o->top)
		o->top = m.top && m.top <= 10000 ? m.top : 15;
	/* Stacks come unwound (IN_STACK); the mode only says they are there. */
	o->call_graph = m.call_graph;
	tracer_init(&tr, o);
	tr.target.pid = m.pid;
	tr.target.pidfd = tr.target.go_fd = tr.target.err_fd = -1;
	tr.no_summary = !summary;
	tr.retention = retention__new(o->retain_after_s, now_ns());
	retention__attach(tr.retention, &tr.ledger);
	if (timeline__open(&tr.tl, o->json_path)) {
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	tr.start_ns = now_ns();
	read_comm(&tr);
	if (seed(&tr)) {
		fprintf(stderr, "arenatrace: report: the recording's initial state is incomplete\n");
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	if (!m.launch)
		tr.ledger.needs_full_reconcile = true;
	begin_timeline(&tr, m.launch ? "launch" : "attach");
	for (;;) {
		uint32_t t = input__peek_type();
		unsigned char stop[5];

		if (t == IN_RECORD || t == IN_RUN || t == IN_STACK || t == IN_DRAIN_END) {
			drain(&tr);
		} else if (t == IN_TICK) {
			input__take_var(IN_TICK, (const void **)&p, &n);
			tick(&tr, false);
		} else {
			/* IN_STOP, or the end (or anything else: the take says what). */
			if (t && input__take(IN_STOP, stop, sizeof(stop)) == INPUT_GOT) {
				tr.target.exited = stop[0] != 0;
				memcpy(&tr.target.exit_status, stop + 1, 4);
			}
			break;
		}
	}
	err = finish(&tr, err);
	if (o->verbose) {
		double secs = (clock_ns() - t0) / 1e9;

		fprintf(stderr, "arenatrace: report: %llu events replayed in %.3f s (%.0f events/s)\n",
			(unsigned long long)tr.est.records, secs, secs > 0 ? tr.est.records / secs : 0.0);
	}

cleanup:
	if (timeline__close(&tr.tl) && !err)
		err = EXIT_RUNTIME;
	tracer_free(&tr);
	for (size_t i = 0; i < nw; i++)
		free(words[i]);
	o->cmd = NULL;
	if (input__problem())
		fprintf(stderr, "arenatrace: report: warning: %s; the report stops there\n", input__problem());
	input__reset();
	return err;
}
