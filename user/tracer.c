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
#include "html_report.h"
#include "pprof_export.h"
#include "profile.h"
#include "stacks.h"
#include "ledger.h"
#include "live_view.h"
#include "loader.h"
#include "pagemap.h"
#include "procmaps.h"
#include "residency.h"
#include "retention.h"
#include "sample.h"
#include "target.h"
#include "timeline.h"
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double since_start(const struct tracer *tr, uint64_t ns)
{
	return ns > tr->start_ns ? (ns - tr->start_ns) / 1e9 : 0.0;
}

static bool resolve_vma(void *cookie, uint64_t addr, struct region *r)
{
	struct tracer *tr = cookie;

	return procmaps__lookup(tr->target.pid, addr, r);
}

static int seed(struct tracer *tr)
{
	int err;

	pagemap__close(&tr->pm);
	err = pagemap__open(&tr->pm, tr->target.pid);
	if (err) {
		fprintf(stderr, "arenatrace: cannot open /proc/%d/pagemap: %s\n", tr->target.pid, strerror(-err));
		return err;
	}
	/* Stacks first: the seed tells the ledger's observers what is resident. */
	if (tr->o->call_graph) {
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
	target__read_comm(&tr->target);
	/* A new image: the old mappings are gone. Records already queued for the new
	 * image are older than this seed and are skipped. */
	if (seed(tr))
		tr->ledger.needs_full_reconcile = true;
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

static int on_record(void *cookie, void *data, size_t len)
{
	struct tracer *tr = cookie;
	const struct arenatrace_syscall_record *sc = data;

	if (len >= sizeof(struct arenatrace_stack_record) && sc->type == ARENATRACE_REC_STACK) {
		if (tr->stacks && sc->ts_ns >= tr->seed_ns)
			stacks__on_record(tr->stacks, &tr->ledger, data, len);
		return 0;
	}
	events__apply(&tr->ledger, tr->target.pid, tr->seed_ns, data, len, &tr->sink, &tr->est);
	/* A file mapped (a library loaded): its symbols may be needed. */
	if (tr->stacks && len >= sizeof(*sc) && sc->type == ARENATRACE_REC_SYSCALL &&
	    sc->sys == ARENATRACE_SYS_MMAP && !(sc->args[3] & 0x20 /* MAP_ANONYMOUS */))
		stacks__refresh(tr->stacks);
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

	if (loader__rss_pages(&tr->ld, &pages))
		tr->last_rss_pages = pages;
	else if (!tr->target.exited && (pages = rollup_rss_pages(tr->target.pid)) >= 0)
		tr->last_rss_pages = pages;
	memset(s, 0, sizeof(*s));
	s->t = since_start(tr, now_ns());
	s->pid = tr->target.pid;
	s->comm = tr->target.comm;
	s->rss_bytes = (uint64_t)tr->last_rss_pages * 4096;
	s->accounted_bytes = (uint64_t)ledger__accounted_pages(&tr->ledger) * 4096;
	s->lost_events = loader__stat(&tr->ld, ARENATRACE_STAT_LOST);
	s->drift_bytes = tr->ledger.drift_pages * 4096;
	s->unattributed_bytes = tr->ledger.unattributed_pages * 4096;
	s->threads_created = tr->threads_created;
	s->retained_bytes = retention__retained_total(tr->retention, &tr->ledger, now_ns());
	s->final = final;
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

	if (tr->target.exited || tr->exit_seen || !needs_reconcile(&tr->ledger))
		return;
	t0 = now_ns();
	n = residency__measure(&tr->ledger, &tr->pm, tr->ledger.needs_full_reconcile,
			       t0 - QUIET_NS, tr->measurements, MAX_MEASUREMENTS);
	loader__drain(&tr->ld);
	residency__apply(&tr->ledger, tr->measurements, n, t0);
}

static uint64_t retained_of(void *cookie, const struct arena *a)
{
	struct tracer *tr = cookie;
	struct arena_retention ar;

	return retention__arena(tr->retention, a, now_ns(), &ar) ? ar.retained_bytes : 0;
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
		};

		if (html_report__write(tr->o->html_path, &in))
			err = EXIT_RUNTIME;
	}
	profile__free(p);
	return err;
}

/* The end: bursts, the diagnosis, the summary on the terminal, the reports. */
static int conclude(struct tracer *tr, const struct sample *s, uint64_t now)
{
	FILE *out = tr->live || !tr->o->json_path || strcmp(tr->o->json_path, "-") ? stdout : stderr;
	struct diagnosis d;
	char text[4096];

	retention__update_bursts(tr->retention, &tr->ledger);
	timeline__bursts(&tr->tl, s, &tr->ledger, tr->retention, tr->start_ns);
	diagnosis__make(&d, &tr->ledger, tr->retention, s->rss_bytes, now);
	diagnosis__text(&d, tr->o->retain_after_s, text, sizeof(text));
	timeline__diagnosis(&tr->tl, s, &d, text);
	live_view__summary(out, s, &tr->ledger, tr->o->top);
	live_view__bursts(out, tr->retention, tr->start_ns);
	fprintf(out, "\n%s", text);
	fflush(out);
	return write_reports(tr, now, text);
}

static int tick(struct tracer *tr, bool final)
{
	struct sample s;
	uint64_t now;
	int err = 0;

	loader__drain(&tr->ld);
	if (!final)
		reconcile(tr);
	now = now_ns();
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
		if (loader__drain(&tr->ld) < 0) {
			fprintf(stderr, "arenatrace: reading the ring buffer failed\n");
			return EXIT_RUNTIME;
		}
		now = now_ns();
		if (tr->exit_seen || target__poll_exit(&tr->target)) {
			/* Let the exit record and the last events arrive. */
			loader__drain(&tr->ld);
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

int tracer__run(const struct options *o)
{
	struct tracer tr = { .o = o };
	const char *mode = o->cmd ? "launch" : "attach";
	struct sample s;
	int err;

	tr.pm.fd = -1;
	tr.sink = (struct event_sink){ .exec = on_exec, .exit = on_exit_record, .thread = on_thread, .cookie = &tr };
	tr.live = !o->quiet && isatty(STDOUT_FILENO) && !(o->json_path && !strcmp(o->json_path, "-"));
	tr.measurements = calloc(MAX_MEASUREMENTS, sizeof(*tr.measurements));
	ledger__init(&tr.ledger, resolve_vma, &tr);
	tr.retention = retention__new(o->retain_after_s, now_ns());
	retention__attach(tr.retention, &tr.ledger);
	history__init(&tr.history, HISTORY_POINTS);
	install_signals();

	err = o->cmd ? target__fork(&tr.target, o->cmd) : target__attach(&tr.target, o->pid);
	if (err)
		goto cleanup;
	err = loader__start(&tr.ld, tr.target.pid, o->btf_path, o->verbose, o->call_graph, o->sample_bytes,
			    on_record, &tr);
	if (err)
		goto cleanup;
	if (timeline__open(&tr.tl, o->json_path)) {
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	tr.start_ns = now_ns();
	if (o->cmd) {
		err = target__exec_stopped(&tr.target, o->cmd);
		if (err)
			goto cleanup;
		if (seed(&tr)) {
			err = EXIT_RUNTIME;
			goto cleanup;
		}
		target__resume(&tr.target);
	} else {
		if (seed(&tr)) {
			err = tr.target.exited || target__poll_exit(&tr.target) ? EXIT_USAGE : EXIT_RUNTIME;
			goto cleanup;
		}
		/* The target ran while we read it: one check against the page tables. */
		tr.ledger.needs_full_reconcile = true;
	}
	fill_sample(&tr, &s, false);
	tr.start_unix_ms = (uint64_t)time(NULL) * 1000;
	timeline__meta(&tr.tl, &s, o->interval_s, mode, o->cmd, tr.start_unix_ms, tr.ledger.proc.allocators);

	err = run_loop(&tr);
	if (tr.exit_seen || tr.target.exited)
		write_exit(&tr);
	if (tick(&tr, true) && !err)
		err = EXIT_RUNTIME;
	if (tr.est.malformed)
		fprintf(stderr, "arenatrace: %llu malformed records ignored\n", (unsigned long long)tr.est.malformed);
	if (!err && tr.tl.failed)
		err = EXIT_RUNTIME;

cleanup:
	if (timeline__close(&tr.tl) && !err)
		err = EXIT_RUNTIME;
	if (o->cmd && !tr.target.exited && tr.target.go_fd >= 0) {
		/* Never released: the child sees EOF on its pipe and exits. */
		target__close(&tr.target);
		target__poll_exit(&tr.target);
	}
	loader__stop(&tr.ld);
	pagemap__close(&tr.pm);
	target__close(&tr.target);
	ledger__free(&tr.ledger);
	retention__free(tr.retention);
	stacks__free(tr.stacks);
	history__free(&tr.history);
	free(tr.measurements);
	return err;
}
