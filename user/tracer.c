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
#include "session.h"
#include "target.h"
#include "timeline.h"
#include "trace_file.h"
#include "tracer.h"

struct tracer {
	const struct options *o;
	struct session s;          /* the one traced process */
	struct loader ld;
	struct timeline tl;
	bool live;                 /* live table on */
	bool replay;               /* `report`: inputs come from a recording */
	struct trace_writer rec;   /* -o */
	bool recording;
	bool no_summary;           /* report -q */
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

/* Applies every record waiting: from the ring buffer, or the recording's next ones. */
static int drain(void *cookie)
{
	struct tracer *tr = cookie;
	/* A record as the kernel sent it; exec records are the largest. */
	_Alignas(8) unsigned char rec[512];
	const void *p;
	uint32_t n;
	int err = 0;

	if (!tr->replay) {
		err = loader__drain(&tr->ld);
		/* After the main ring: the mappings the blocks sit in are known. */
		if (tr->s.heap && err >= 0 && heap__drain(tr->s.heap, tr->s.stacks, &tr->s.ledger) < 0)
			err = -EIO;
		input__put(IN_DRAIN_END, NULL, 0);
		return err;
	}
	for (;;) {
		uint32_t t = input__peek_type();

		if (t == IN_STACK) {
			if (!stacks__replay_item(tr->s.stacks, &tr->s.ledger))
				break;
		} else if ((t == IN_RECORD || t == IN_RUN) && input__take_record(rec, sizeof(rec), &n) == INPUT_GOT) {
			session__apply_record(&tr->s, rec, n);
		} else {
			break;
		}
	}
	if (input__peek_type() == IN_DRAIN_END)
		input__take_var(IN_DRAIN_END, &p, &n);
	return 0;
}

/* --html and --csv, written at the end; returns 0 or an exit code. */
static int write_reports(struct tracer *tr, uint64_t now, const char *diagnosis)
{
	struct profile *p = NULL;	/* with stacks: for --folded, --pprof and --html */
	int err = 0;

	if (tr->o->csv_path && csv_export__write(tr->o->csv_path, &tr->s.history))
		err = EXIT_RUNTIME;
	if (tr->s.stacks && (tr->o->folded_path || tr->o->pprof_path || tr->o->html_path)) {
		p = profile__new();
		stacks__export(tr->s.stacks, &tr->s.ledger, p);
		if (tr->o->verbose) {
			struct stacks_stats st;

			stacks__stats(tr->s.stacks, &st);
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
		    pprof_export__write(tr->o->pprof_path, p, now - tr->s.start_ns, tr->s.start_unix_ms * 1000000ULL))
			err = EXIT_RUNTIME;
	}
	if (tr->o->html_path) {
		struct html_report_input in = {
			.history = &tr->s.history, .pid = tr->s.target.pid, .comm = tr->s.target.comm,
			.command = tr->o->cmd, .ledger = &tr->s.ledger, .retention = tr->s.retention,
			.start_ns = tr->s.start_ns, .now_ns = now, .start_unix_ms = tr->s.start_unix_ms,
			.interval_s = tr->o->interval_s, .diagnosis = diagnosis, .profile = p,
			.heap = tr->s.heap != NULL,
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

	heap__stats(tr->s.heap, &st);
	fprintf(out, "\nHeap (--heap, %s%s): %llu allocations (%.1f MiB), %llu frees, %llu uprobes",
		heap__mode(tr->s.heap), tr->o->heap_sample ? ", weights unbiased" : "",
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

	retention__update_bursts(tr->s.retention, &tr->s.ledger);
	timeline__bursts(&tr->tl, s, &tr->s.ledger, tr->s.retention, tr->s.start_ns);
	if (tr->s.heap) {
		diagnosis__make_heap(&d, &tr->s.ledger, tr->s.retention, s->rss_bytes, s->live_bytes, now);
		d.unknown_frees = s->heap_unknown_frees;
		d.since_attach = !tr->o->cmd;
		d.sampled = tr->o->heap_sample != 0;
	} else {
		diagnosis__make(&d, &tr->s.ledger, tr->s.retention, s->rss_bytes, now);
	}
	diagnosis__text(&d, tr->o->retain_after_s, text, sizeof(text));
	timeline__diagnosis(&tr->tl, s, &d, text);
	if (!tr->no_summary) {
		live_view__summary(out, s, &tr->s.ledger, tr->o->top);
		live_view__bursts(out, tr->s.retention, tr->s.start_ns);
		if (tr->s.heap)
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
	session__tick(&tr->s, &s, final);
	now = tr->s.tick_now;
	if (final)
		err = conclude(tr, &s, now);
	else if (tr->live)
		live_view__draw(stdout, &s, &tr->s.ledger, tr->o->top);
	session__end_tick(&tr->s);
	if (tr->recording)
		trace_writer__flush(&tr->rec);
	return err;
}

static void write_exit(struct tracer *tr)
{
	int status, sig = 0;

	if (tr->s.exit_seen) {
		status = (tr->s.exit_raw >> 8) & 0xff;
		sig = tr->s.exit_raw & 0x7f;
	} else {
		status = tr->s.target.exit_status >= 128 ? 0 : tr->s.target.exit_status;
		sig = tr->s.target.exit_status >= 128 ? tr->s.target.exit_status - 128 : 0;
	}
	timeline__exit(&tr->tl, session__since_start(&tr->s, session__now_ns()), tr->s.target.pid, status, sig);
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
	uint64_t next_tick = tr->s.start_ns + interval;
	uint64_t deadline = o->duration_s > 0 ? tr->s.start_ns + (uint64_t)(o->duration_s * 1e9) : 0;

	while (!stop_requests) {
		struct timespec ts = { .tv_sec = poll / 1000000000ULL, .tv_nsec = poll % 1000000000ULL };
		uint64_t now;

		nanosleep(&ts, NULL);
		if (drain(tr) < 0) {
			fprintf(stderr, "arenatrace: reading the ring buffer failed\n");
			return EXIT_RUNTIME;
		}
		now = session__clock_ns();
		if (tr->s.exit_seen || target__poll_exit(&tr->s.target)) {
			/* Let the exit record and the last events arrive. */
			drain(tr);
			if (!tr->s.exit_seen)
				target__poll_exit(&tr->s.target);
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
	tr->live = !o->quiet && isatty(STDOUT_FILENO) && !(o->json_path && !strcmp(o->json_path, "-")) &&
		   !tr->replay;
	session__init(&tr->s, o, &tr->tl, HISTORY_POINTS);
	tr->s.keep_history = o->html_path || o->csv_path;
	tr->s.replay = tr->replay;
	tr->s.drain = drain;
	tr->s.drain_cookie = tr;
}

static void tracer_free(struct tracer *tr)
{
	session__free(&tr->s);
}

/* The first item of a recording: what `report` needs to redo the analysis. */
static void put_meta(struct tracer *tr)
{
	const struct options *o = tr->o;
	struct input_meta m = {
		.pid = tr->s.target.pid, .launch = o->cmd != NULL, .interval_s = o->interval_s,
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

	session__fill_sample(&tr->s, &s, false);
	tr->s.start_unix_ms = start_unix_ms();
	timeline__meta(&tr->tl, &s, tr->o->interval_s, mode, tr->o->cmd, tr->s.start_unix_ms,
		       tr->s.ledger.proc.allocators);
}

/* After the loop: the exit record and the final records. Returns an exit code. */
static int finish(struct tracer *tr, int err)
{
	if (tr->s.exit_seen || tr->s.target.exited)
		write_exit(tr);
	if (tick(tr, true) && !err)
		err = EXIT_RUNTIME;
	if (tr->s.est.malformed)
		fprintf(stderr, "arenatrace: %llu malformed records ignored\n", (unsigned long long)tr->s.est.malformed);
	if (!err && tr->tl.failed)
		err = EXIT_RUNTIME;
	return err;
}

/* --heap, launch mode: the allocators it will load, probed before it runs. A
 * library found only later (dlopen, an unusual libc path) is probed when mapped. */
static void heap_attach_launch(struct tracer *tr)
{
	int n = heap__attach_launch(tr->s.heap);

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
	int n = heap__rescan(tr->s.heap);

	if (!heap__probing(tr->s.heap)) {
		if (n < 0)
			fprintf(stderr, "arenatrace: --heap: attaching uprobes to the allocator of PID %d failed "
				"(run with -v for each failure)\n", tr->s.target.pid);
		else
			fprintf(stderr, "arenatrace: --heap: PID %d uses no allocator arenatrace knows (glibc, "
				"jemalloc, tcmalloc, mimalloc, in a library or its executable); run without --heap\n",
				tr->s.target.pid);
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

	err = o->cmd ? target__fork(&tr.s.target, o->cmd) : target__attach(&tr.s.target, o->pid);
	if (err)
		goto cleanup;
	put_meta(&tr);
	tr.s.retention = retention__new(o->retain_after_s, session__now_ns());
	retention__attach(tr.s.retention, &tr.s.ledger);
	tr.s.ld = &tr.ld;
	err = loader__start(&tr.ld, tr.s.target.pid, o->btf_path, o->verbose, o->call_graph, o->sample_bytes,
			    session__on_record, &tr.s);
	if (err)
		goto cleanup;
	if (o->heap) {
		struct heap_config hc = {
			.pid = tr.s.target.pid, .sample_bytes = o->heap_sample, .stack_mode = o->call_graph,
			.stack_sample_bytes = o->sample_bytes, .verbose = o->verbose,
		};

		tr.s.heap = heap__new(&hc);
		if (!tr.s.heap) {
			err = EXIT_RUNTIME;
			goto cleanup;
		}
	}
	if (timeline__open(&tr.tl, o->json_path)) {
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	if (tr.s.heap) {
		tr.tl.heap_mode = heap__mode(tr.s.heap);
		tr.tl.heap_sample_bytes = heap__sample_bytes(tr.s.heap);
	}
	tr.s.start_ns = session__now_ns();
	if (o->cmd) {
		err = target__exec_stopped(&tr.s.target, o->cmd);
		if (err)
			goto cleanup;
		session__read_comm(&tr.s);
		if (tr.s.heap)
			heap_attach_launch(&tr);
		if (session__seed(&tr.s)) {
			err = EXIT_RUNTIME;
			goto cleanup;
		}
		target__resume(&tr.s.target);
	} else {
		session__read_comm(&tr.s);
		if (session__seed(&tr.s)) {
			err = tr.s.target.exited || target__poll_exit(&tr.s.target) ? EXIT_USAGE : EXIT_RUNTIME;
			goto cleanup;
		}
		/* The target ran while we read it: one check against the page tables. */
		tr.s.ledger.needs_full_reconcile = true;
		if (tr.s.heap && (err = heap_attach_running(&tr)))
			goto cleanup;
	}
	begin_timeline(&tr, mode);

	err = run_loop(&tr);
	{
		unsigned char stop[5] = { tr.s.target.exited };

		memcpy(stop + 1, &tr.s.target.exit_status, 4);
		input__put(IN_STOP, stop, sizeof(stop));
	}
	err = finish(&tr, err);
	if (o->verbose)
		fprintf(stderr, "arenatrace: kernel side: %llu RSS changes, %llu faults, %llu syscalls, %llu runs, "
			"%llu lost\n", (unsigned long long)loader__stat(&tr.ld, ARENATRACE_STAT_RSS_EVENTS),
			(unsigned long long)loader__stat(&tr.ld, ARENATRACE_STAT_FAULTS),
			(unsigned long long)loader__stat(&tr.ld, ARENATRACE_STAT_SYSCALLS),
			(unsigned long long)loader__stat(&tr.ld, ARENATRACE_STAT_RUNS),
			(unsigned long long)loader__stat(&tr.ld, ARENATRACE_STAT_LOST));

cleanup:
	if (timeline__close(&tr.tl) && !err)
		err = EXIT_RUNTIME;
	if (o->cmd && !tr.s.target.exited && tr.s.target.go_fd >= 0) {
		/* Never released: the child sees EOF on its pipe and exits. */
		target__close(&tr.s.target);
		target__poll_exit(&tr.s.target);
	}
	heap__free(tr.s.heap);
	tr.s.heap = NULL;
	loader__stop(&tr.ld);
	target__close(&tr.s.target);
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

	uint64_t t0 = session__clock_ns();

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
	tr.s.target.pid = m.pid;
	tr.s.target.pidfd = tr.s.target.go_fd = tr.s.target.err_fd = -1;
	tr.no_summary = !summary;
	tr.s.retention = retention__new(o->retain_after_s, session__now_ns());
	retention__attach(tr.s.retention, &tr.s.ledger);
	if (timeline__open(&tr.tl, o->json_path)) {
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	tr.s.start_ns = session__now_ns();
	session__read_comm(&tr.s);
	if (session__seed(&tr.s)) {
		fprintf(stderr, "arenatrace: report: the recording's initial state is incomplete\n");
		err = EXIT_RUNTIME;
		goto cleanup;
	}
	if (!m.launch)
		tr.s.ledger.needs_full_reconcile = true;
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
				tr.s.target.exited = stop[0] != 0;
				memcpy(&tr.s.target.exit_status, stop + 1, 4);
			}
			break;
		}
	}
	err = finish(&tr, err);
	if (o->verbose) {
		double secs = (session__clock_ns() - t0) / 1e9;

		fprintf(stderr, "arenatrace: report: %llu events replayed in %.3f s (%.0f events/s)\n",
			(unsigned long long)tr.s.est.records, secs, secs > 0 ? tr.s.est.records / secs : 0.0);
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
