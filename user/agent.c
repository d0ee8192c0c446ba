#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "agent.h"
#include "cli.h"
#include "diagnosis.h"
#include "discovery.h"
#include "html_report.h"
#include "http_server.h"
#include "metrics.h"
#include "pprof_export.h"
#include "profile.h"
#include "session.h"

/* One BPF object for every target: one slot each. */
#define AGENT_MAX_TARGETS ARENATRACE_MAX_TARGETS
/* HTTP: a slow or stuck client is dropped after this long. */
#define AGENT_HTTP_TIMEOUT_S 10
/* The history keeps this many points at most however long --history is. */
#define AGENT_MAX_HISTORY_POINTS 100000
/* Arenas per history point (the rest summed as "other"): the HTML chart draws 8. */
#define AGENT_HISTORY_ARENAS 16
/* Stack tables per process (stacks__trim; cells: twice as many): about 16 MiB
 * at most with DWARF stacks. */
#define AGENT_MAX_STACKS 16384
/* How often the agent gives its own free memory back (malloc_trim). */
#define AGENT_TRIM_NS (10 * 1000000000ULL)

/* Counters of arenas gone, per kind, so the per-kind counters never go down. */
struct kind_totals {
	const char *kind;         /* the arena_kind's static name */
	uint64_t faulted_pages, released_pages;
};

#define AGENT_MAX_KINDS 32

struct agent_target {
	struct session s;
	struct timeline tl;       /* never opened: the agent writes no JSON */
	struct kind_totals gone[AGENT_MAX_KINDS];
	size_t nr_gone;
	struct agent *ag;
	double start_unix_s;
};

struct refusal {
	pid_t pid;
	bool full;                /* every slot was taken: retried once one is free */
};

struct agent {
	struct options o;         /* what every session sees */
	const char *listen;
	double history_s;
	unsigned top_arenas;
	size_t max_stacks;        /* --max-stacks */
	struct discovery disc;
	struct loader ld;         /* loaded once, targets added and removed by slot */
	bool ld_started;
	struct agent_target *t[AGENT_MAX_TARGETS];
	size_t nr_t;
	struct agent_target *by_slot[ARENATRACE_MAX_TARGETS];
	pthread_mutex_t lock;     /* the sessions: the loop thread and the HTTP thread */
	struct http_server *http;
	uint64_t followed, skipped;
	double last_tick_s;
	uint64_t start_ns;
	uint64_t last_trim_ns;
	struct refusal *refused;  /* pids we could not follow: not retried every interval */
	size_t nr_refused;
};

static volatile sig_atomic_t stop_requests;

static void on_signal(int sig)
{
	if (++stop_requests > 1 && sig == SIGINT) {
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	}
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: arenatrace agent [--listen ADDR:PORT] [--pid P[,P...]] [--comm NAME[,NAME...]]\n"
"                        [--cgroup PATH[,PATH...]] [OPTIONS]\n"
"\n"
"Runs until stopped (SIGINT, SIGTERM), follows every process that matches any\n"
"selector (new ones within one interval, exited ones dropped), and serves:\n"
"  /metrics             Prometheus text format: per process and arena resident,\n"
"                       mapped, peak and retained bytes, faulted/released totals\n"
"  /debug/pprof/heap    gzipped pprof: resident bytes by first-touch stack\n"
"                       (?pid=P for one process; all processes merged otherwise)\n"
"  /                    the HTML report of the recent past (?pid=P)\n"
"GET only; never reads or writes the targets' memory.\n"
"\n"
"      --listen ADDR:PORT  where to serve (default 127.0.0.1:9464; ':PORT' is\n"
"                       loopback; name another address to serve beyond this host)\n"
"      --pid P[,P...]   follow these processes\n"
"      --comm NAME[,..] follow processes with this comm (exact, as in /proc/PID/comm)\n"
"      --cgroup PATH[,..]  follow processes in this cgroup or below it\n"
"                       (e.g. /system.slice/redis.service)\n"
"  -i, --interval SECS  sample and discovery interval (default 10)\n"
"      --history DUR    recent past kept per process: 30m, 1h, 2d, SECS (default 1h);\n"
"                       older points are coarsened, then dropped\n"
"      --top N          arenas per process with their own series; the rest are summed\n"
"                       per kind as arena=\"other\" (default 20)\n"
"      --retain-after SECS  resident memory untouched by any release for longer than\n"
"                       this counts as retained (default 300)\n"
"      --call-graph MODE  dwarf (default), fp, or none (/debug/pprof/heap is then empty)\n"
"      --sample-bytes N one stack per N bytes (default 4194304)\n"
"      --max-stacks N   distinct stacks kept per process (default 16384); past it the\n"
"                       lightest merge into [other stacks], gone arenas into [other arenas]\n"
"      --btf PATH       kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
"  -v, --verbose        libbpf debug output\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 stopped by a signal, 1 runtime failure (no privileges, cannot\n"
"listen, BPF), 2 usage error.\n");
}

/* "90", "90s", "30m", "1h", "2d". */
static int parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v <= 0)
		goto bad;
	if (!strcmp(end, "m"))
		v *= 60;
	else if (!strcmp(end, "h"))
		v *= 3600;
	else if (!strcmp(end, "d"))
		v *= 86400;
	else if (*end && strcmp(end, "s"))
		goto bad;
	if (v > 365 * 86400.0)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "arenatrace: agent: --history expects a duration like 30m, 1h, 2d or seconds, got '%s'\n", s);
	return -1;
}

static int parse_args(int argc, char **argv, struct agent *ag)
{
	enum { OPT_LISTEN = 256, OPT_PID, OPT_COMM, OPT_CGROUP, OPT_HISTORY, OPT_TOP, OPT_MAX_STACKS };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "pid", required_argument, NULL, OPT_PID },
		{ "comm", required_argument, NULL, OPT_COMM },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "interval", required_argument, NULL, 'i' },
		{ "history", required_argument, NULL, OPT_HISTORY },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "max-stacks", required_argument, NULL, OPT_MAX_STACKS },
		{ "help", no_argument, NULL, 'h' },
		CLI_SHARED_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct options *o = &ag->o;
	long v;
	int c, r;

	o->interval_s = 10.0;
	o->top = 15;
	o->retain_after_s = 300.0;
	o->call_graph = 2;     /* dwarf: /debug/pprof/heap needs stacks */
	o->sample_bytes = 4 * 1024 * 1024;
	o->quiet = true;
	ag->listen = "127.0.0.1:9464";
	ag->history_s = 3600;
	ag->top_arenas = 20;
	ag->max_stacks = AGENT_MAX_STACKS;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+i:vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: ag->listen = optarg; break;
		case OPT_PID:
			if (discovery__add_pids(&ag->disc, optarg))
				return EXIT_USAGE;
			break;
		case OPT_COMM:
			if (discovery__add_comms(&ag->disc, optarg))
				return EXIT_USAGE;
			break;
		case OPT_CGROUP:
			if (discovery__add_cgroups(&ag->disc, optarg))
				return EXIT_USAGE;
			break;
		case 'i':
			if (cli__parse_secs("-i", optarg, 0.05, 3600, &o->interval_s))
				return EXIT_USAGE;
			break;
		case OPT_HISTORY:
			if (parse_duration(optarg, &ag->history_s))
				return EXIT_USAGE;
			break;
		case OPT_TOP:
			if (cli__parse_uint("--top", optarg, 1, 10000, &v))
				return EXIT_USAGE;
			ag->top_arenas = (unsigned)v;
			break;
		case OPT_MAX_STACKS:
			if (cli__parse_uint("--max-stacks", optarg, 16, 1L << 24, &v))
				return EXIT_USAGE;
			ag->max_stacks = (size_t)v;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default:
			r = cli__parse_shared(c, optarg, true, o);
			if (r > 0)
				break;
			if (r == 0)
				fprintf(stderr, "Try 'arenatrace agent --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "arenatrace: agent: unexpected argument '%s'\nTry 'arenatrace agent --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (discovery__empty(&ag->disc)) {
		fprintf(stderr, "arenatrace: agent: nothing to follow: give --pid, --comm or --cgroup\n"
			"Try 'arenatrace agent --help'.\n");
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- targets -------------------------------------------------------------- */

static struct agent_target *find_target(struct agent *ag, pid_t pid)
{
	for (size_t i = 0; i < ag->nr_t; i++)
		if (ag->t[i]->s.target.pid == pid)
			return ag->t[i];
	return NULL;
}

static int drain_all(void *cookie)
{
	struct agent *ag = cookie;

	return loader__drain(&ag->ld);
}

/* The ring buffer's callback: a record goes to its slot's session. Records of a
 * slot freed since are dropped; a slot reused at once gets the old process's
 * last records too, but they are older than the new session's seed, which
 * skips them. */
static int on_record(void *cookie, void *data, size_t len)
{
	struct agent *ag = cookie;
	unsigned slot;

	if (len < 4)
		return 0;
	slot = arenatrace_record_slot(data);
	if (slot >= ARENATRACE_MAX_TARGETS || !ag->by_slot[slot])
		return 0;
	return session__on_record(&ag->by_slot[slot]->s, data, len);
}

static void target_free(struct agent *ag, struct agent_target *t)
{
	if (!t)
		return;
	if (t->s.ld) {
		loader__remove_target(&ag->ld, t->s.slot);
		ag->by_slot[t->s.slot] = NULL;
	}
	target__close(&t->s.target);
	session__free(&t->s);
	free(t);
}

static bool refused(const struct agent *ag, pid_t pid)
{
	for (size_t i = 0; i < ag->nr_refused; i++)
		if (ag->refused[i].pid == pid)
			return true;
	return false;
}

static void refuse(struct agent *ag, pid_t pid, bool full)
{
	struct refusal *n = realloc(ag->refused, (ag->nr_refused + 1) * sizeof(*n));

	ag->skipped++;
	if (!n)
		return;
	ag->refused = n;
	ag->refused[ag->nr_refused++] = (struct refusal){ .pid = pid, .full = full };
}

static struct kind_totals *kind_slot(struct kind_totals *v, size_t *n, const char *kind)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(v[i].kind, kind))
			return &v[i];
	if (*n == AGENT_MAX_KINDS)
		return NULL;
	v[*n] = (struct kind_totals){ .kind = kind };
	return &v[(*n)++];
}

static const char *kind_name(const struct arena *a)
{
	return a->kind ? a->kind->name : "?";
}

/* An arena is freed (gone, or the process exec'd): keep its counters. */
static void on_arena_free(void *cookie, struct arena *a)
{
	struct agent_target *t = cookie;
	struct kind_totals *k = kind_slot(t->gone, &t->nr_gone, kind_name(a));

	if (k) {
		k->faulted_pages += a->faulted_pages;
		k->released_pages += a->released_pages;
	}
}

/* Starts following pid (the discovery callback; the lock is held). */
static void add_target(void *cookie, pid_t pid)
{
	struct agent *ag = cookie;
	struct agent_target *t;
	size_t points;
	int slot = 0;

	if (find_target(ag, pid) || refused(ag, pid))
		return;
	if (ag->nr_t == AGENT_MAX_TARGETS) {
		fprintf(stderr, "arenatrace: agent: not following PID %d: already following %d processes\n", pid,
			AGENT_MAX_TARGETS);
		refuse(ag, pid, true);
		return;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return;
	t->ag = ag;
	points = (size_t)(ag->history_s / ag->o.interval_s) + 1;
	if (points > AGENT_MAX_HISTORY_POINTS)
		points = AGENT_MAX_HISTORY_POINTS;
	session__init(&t->s, &ag->o, &t->tl, points);
	t->s.keep_history = true;
	t->s.history.max_arenas = AGENT_HISTORY_ARENAS;
	t->s.ledger.proc.no_peek = true;    /* never read the target's memory */
	t->s.drain = drain_all;
	t->s.drain_cookie = ag;
	if (target__attach(&t->s.target, pid))
		goto fail;
	t->s.retention = retention__new(ag->o.retain_after_s, session__now_ns());
	retention__attach(t->s.retention, &t->s.ledger);
	{
		struct ledger_observer obs = { .on_free = on_arena_free, .cookie = t };

		ledger__add_observer(&t->s.ledger, &obs);
	}
	/* The kernel side first: what changes while we read /proc is not missed. */
	slot = loader__add_target(&ag->ld, pid);
	if (slot < 0) {
		fprintf(stderr, "arenatrace: agent: BPF target slot for PID %d: %s\n", pid, strerror(-slot));
		goto fail;
	}
	t->s.ld = &ag->ld;
	t->s.slot = slot;
	ag->by_slot[slot] = t;
	t->s.start_ns = session__now_ns();
	t->s.start_unix_ms = (uint64_t)time(NULL) * 1000;
	t->start_unix_s = (double)time(NULL);
	if (session__seed(&t->s))
		goto fail;
	t->s.ledger.needs_full_reconcile = true;
	ag->t[ag->nr_t++] = t;
	ag->followed++;
	fprintf(stderr, "arenatrace: agent: following PID %d (%s)\n", pid, t->s.target.comm);
	return;
fail:
	fprintf(stderr, "arenatrace: agent: cannot follow PID %d\n", pid);
	target_free(ag, t);
	refuse(ag, pid, slot == -ENOSPC);
}

static void drop_target(struct agent *ag, size_t i)
{
	struct agent_target *t = ag->t[i];

	fprintf(stderr, "arenatrace: agent: PID %d (%s) exited; dropped\n", t->s.target.pid, t->s.target.comm);
	target_free(ag, t);
	ag->t[i] = ag->t[--ag->nr_t];
}

/* Forgets refused pids that are gone (their numbers will be reused), and those
 * refused for want of a slot once one is free. */
static void prune_refused(struct agent *ag)
{
	size_t w = 0;

	for (size_t i = 0; i < ag->nr_refused; i++) {
		if (ag->refused[i].full && ag->nr_t < AGENT_MAX_TARGETS)
			continue;
		if (!kill(ag->refused[i].pid, 0) || errno != ESRCH)
			ag->refused[w++] = ag->refused[i];
	}
	ag->nr_refused = w;
}

static uint64_t lost_total(struct agent *ag)
{
	return ag->ld_started ? loader__stat(&ag->ld, ARENATRACE_STAT_LOST) : 0;
}

/* Hands freed memory back to the kernel (the agent's own allocator retention:
 * big replies, stack-table trims and dropped sessions leave free chunks that
 * glibc would keep). Cheap: only free pages are touched. */
static void trim_own_memory(struct agent *ag, uint64_t now)
{
	if (now - ag->last_trim_ns < AGENT_TRIM_NS)
		return;
	ag->last_trim_ns = now;
	malloc_trim(0);
}

/* One interval for every target: samples, history, exits, then discovery. */
static void tick_all(struct agent *ag)
{
	uint64_t t0 = session__clock_ns();

	drain_all(ag);
	for (size_t i = 0; i < ag->nr_t;) {
		struct agent_target *t = ag->t[i];
		struct sample smp;

		if (t->s.exit_seen || target__poll_exit(&t->s.target)) {
			drop_target(ag, i);
			continue;
		}
		session__tick(&t->s, &smp, false);
		history__drop_before(&t->s.history, smp.t - ag->history_s);
		stacks__trim(t->s.stacks, &t->s.ledger, ag->max_stacks, 2 * ag->max_stacks);
		session__end_tick(&t->s);
		i++;
	}
	prune_refused(ag);
	discovery__scan(&ag->disc, add_target, ag);
	ag->last_tick_s = (session__clock_ns() - t0) / 1e9;
	trim_own_memory(ag, session__clock_ns());
}

/* ---- HTTP ------------------------------------------------------------------- */

static char *memstream_done(FILE *f, char **buf, size_t *len, bool ok)
{
	if (fclose(f) || !ok) {
		free(*buf);
		*buf = NULL;
		*len = 0;
	}
	return *buf;
}

static void serve_metrics(struct agent *ag, struct http_reply *r)
{
	struct metrics_snapshot snap = {
		.version = ARENATRACE_VERSION, .top_arenas = ag->top_arenas, .processes_followed = ag->followed,
		.targets_dropped = ag->skipped, .last_tick_seconds = ag->last_tick_s,
	};
	struct metrics_process procs[AGENT_MAX_TARGETS];
	FILE *f;
	bool ok = true;

	snap.procs = procs;
	snap.lost_events = lost_total(ag);
	for (size_t i = 0; i < ag->nr_t; i++) {
		struct agent_target *t = ag->t[i];
		struct metrics_process *p = &procs[snap.nr_procs];
		struct sample smp;
		size_t n = 0;

		session__fill_sample(&t->s, &smp, false);
		memset(p, 0, sizeof(*p));
		p->pid = t->s.target.pid;
		p->comm = t->s.target.comm;
		p->rss_bytes = smp.rss_bytes;
		p->accounted_bytes = smp.accounted_bytes;
		p->retained_bytes = smp.retained_bytes;
		p->drift_bytes = smp.drift_bytes;
		p->start_time_s = t->start_unix_s;
		if (t->s.stacks) {
			struct stacks_stats sst;

			stacks__stats(t->s.stacks, &sst);
			p->stack_trims = sst.trims;
		}
		p->arenas = calloc(t->s.ledger.nr_arenas ? t->s.ledger.nr_arenas : 1, sizeof(*p->arenas));
		if (!p->arenas) {
			ok = false;
			break;
		}
		for (const struct arena *a = t->s.ledger.arenas; a && n < t->s.ledger.nr_arenas; a = a->next) {
			struct metrics_arena *m = &p->arenas[n];
			struct arena_retention ar;

			if (a->gone)
				continue;
			m->id = a->id;
			m->kind = a->kind ? a->kind->name : "?";
			m->mapped_bytes = a->mapped_bytes;
			m->resident_bytes = a->resident_pages > 0 ? (uint64_t)a->resident_pages * 4096 : 0;
			m->peak_resident_bytes = a->peak_resident_pages > 0 ? (uint64_t)a->peak_resident_pages * 4096 : 0;
			m->faulted_bytes = a->faulted_pages * 4096;
			m->released_bytes = a->released_pages * 4096;
			m->retained_bytes = retention__arena(t->s.retention, a, session__now_ns(), &ar) ? ar.retained_bytes : 0;
			n++;
		}
		p->nr_arenas = n;
		/* Per kind: the gone arenas' counters plus the live ones'. */
		{
			struct kind_totals k[AGENT_MAX_KINDS];
			size_t nk = t->nr_gone;

			memcpy(k, t->gone, nk * sizeof(*k));
			for (const struct arena *a = t->s.ledger.arenas; a; a = a->next) {
				struct kind_totals *kt = kind_slot(k, &nk, kind_name(a));

				if (kt) {
					kt->faulted_pages += a->faulted_pages;
					kt->released_pages += a->released_pages;
				}
			}
			p->kinds = calloc(nk ? nk : 1, sizeof(*p->kinds));
			if (!p->kinds) {
				ok = false;
				snap.nr_procs++;
				break;
			}
			for (size_t i = 0; i < nk; i++)
				p->kinds[i] = (struct metrics_kind){ .kind = k[i].kind,
					.faulted_bytes = k[i].faulted_pages * 4096, .released_bytes = k[i].released_pages * 4096 };
			p->nr_kinds = nk;
		}
		snap.nr_procs++;
	}
	f = open_memstream(&r->body, &r->len);
	if (f) {
		if (ok && metrics__render(&snap, f))
			ok = false;
		memstream_done(f, &r->body, &r->len, ok);
	}
	for (size_t i = 0; i < snap.nr_procs; i++) {
		free(procs[i].arenas);
		free(procs[i].kinds);
	}
	if (r->body) {
		r->status = 200;
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	} else {
		r->status = 500;
	}
}

/* The targets a request names: ?pid=P, or all of them. */
static bool wanted(const struct agent_target *t, const char *pid_arg)
{
	return !pid_arg || atoi(pid_arg) == t->s.target.pid;
}

static void serve_pprof(struct agent *ag, const char *pid_arg, struct http_reply *r)
{
	struct profile *p = profile__new();
	uint64_t now = session__now_ns(), start = now, start_unix_ms = 0;
	bool any = false;
	uint8_t *gz = NULL;
	size_t len = 0;

	for (size_t i = 0; i < ag->nr_t; i++) {
		struct agent_target *t = ag->t[i];

		if (!wanted(t, pid_arg))
			continue;
		any = true;
		if (t->s.start_ns < start) {
			start = t->s.start_ns;
			start_unix_ms = t->s.start_unix_ms;
		}
		if (t->s.stacks)
			stacks__export(t->s.stacks, &t->s.ledger, p);
	}
	if (pid_arg && !any) {
		r->status = 404;
	} else if (!pprof_export__build(p, now - start, start_unix_ms * 1000000ULL, &gz, &len)) {
		r->status = 200;
		r->body = (char *)gz;
		r->len = len;
		r->content_type = "application/octet-stream";
		/* The body is the gzipped profile itself (what pprof tools fetch), so no
		 * Content-Encoding: clients must not inflate it. */
	} else {
		r->status = 500;
	}
	profile__free(p);
}

static void write_index(struct agent *ag, FILE *f)
{
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>arenatrace agent</title></head><body>\n"
	      "<h1>arenatrace agent</h1>\n<p><a href=\"/metrics\">/metrics</a> &middot; "
	      "<a href=\"/debug/pprof/heap\">/debug/pprof/heap</a></p>\n<ul>\n", f);
	for (size_t i = 0; i < ag->nr_t; i++) {
		const struct agent_target *t = ag->t[i];

		fprintf(f, "<li><a href=\"/?pid=%d\">PID %d</a> ", t->s.target.pid, t->s.target.pid);
		for (const char *c = t->s.target.comm; *c; c++) {
			if (*c == '<')
				fputs("&lt;", f);
			else if (*c == '>')
				fputs("&gt;", f);
			else if (*c == '&')
				fputs("&amp;", f);
			else if (*c == '"')
				fputs("&quot;", f);
			else
				fputc(*c, f);
		}
		fprintf(f, " (<a href=\"/debug/pprof/heap?pid=%d\">pprof</a>)</li>\n", t->s.target.pid);
	}
	fputs("</ul>\n</body></html>\n", f);
}

static int write_report(struct agent *ag, struct agent_target *t, FILE *f)
{
	struct profile *p = NULL;
	struct diagnosis d;
	struct sample smp;
	char text[4096];
	uint64_t now = t->s.tick_now ? t->s.tick_now : session__now_ns();
	int err;

	session__fill_sample(&t->s, &smp, false);
	retention__update_bursts(t->s.retention, &t->s.ledger);
	diagnosis__make(&d, &t->s.ledger, t->s.retention, smp.rss_bytes, now);
	diagnosis__text(&d, ag->o.retain_after_s, text, sizeof(text));
	if (t->s.stacks) {
		p = profile__new();
		stacks__export(t->s.stacks, &t->s.ledger, p);
	}
	{
		struct html_report_input in = {
			.history = &t->s.history, .pid = t->s.target.pid, .comm = t->s.target.comm,
			.ledger = &t->s.ledger, .retention = t->s.retention, .start_ns = t->s.start_ns,
			.now_ns = now, .start_unix_ms = t->s.start_unix_ms, .interval_s = ag->o.interval_s,
			.diagnosis = text, .profile = p,
		};

		err = html_report__write_file(f, &in);
	}
	profile__free(p);
	return err;
}

static void serve_html(struct agent *ag, const char *pid_arg, struct http_reply *r)
{
	struct agent_target *t = NULL;
	FILE *f;
	bool ok = true;

	if (pid_arg || ag->nr_t == 1) {
		for (size_t i = 0; i < ag->nr_t && !t; i++)
			if (wanted(ag->t[i], pid_arg))
				t = ag->t[i];
		if (!t) {
			r->status = 404;
			return;
		}
	}
	f = open_memstream(&r->body, &r->len);
	if (!f) {
		r->status = 500;
		return;
	}
	if (t)
		ok = !write_report(ag, t, f);
	else
		write_index(ag, f);
	memstream_done(f, &r->body, &r->len, ok);
	r->status = r->body ? 200 : 500;
	r->content_type = "text/html; charset=utf-8";
}

static void on_http(void *cookie, const char *path, const struct http_request *req, struct http_reply *r)
{
	struct agent *ag = cookie;
	const char *pid_arg = http_request__arg(req, "pid");

	if (pid_arg && (atoi(pid_arg) <= 0 || strspn(pid_arg, "0123456789") != strlen(pid_arg))) {
		r->status = 400;
		return;
	}
	pthread_mutex_lock(&ag->lock);
	if (!strcmp(path, "/metrics"))
		serve_metrics(ag, r);
	else if (!strcmp(path, "/debug/pprof/heap"))
		serve_pprof(ag, pid_arg, r);
	else if (!strcmp(path, "/"))
		serve_html(ag, pid_arg, r);
	else
		r->status = 404;
	pthread_mutex_unlock(&ag->lock);
}

/* ---- main ------------------------------------------------------------------- */

int agent__main(int argc, char **argv)
{
	struct agent *ag = calloc(1, sizeof(*ag));
	struct sigaction sa = { .sa_handler = on_signal };
	char err[256];
	uint64_t interval, poll, next_tick;
	int rc;

	if (!ag)
		return EXIT_RUNTIME;
	ag->disc.self = getpid();
	rc = parse_args(argc, argv, ag);
	if (rc >= 0)
		goto out;
	{
		struct sockaddr_storage ss;
		socklen_t sl;

		if (http_server__parse_listen(ag->listen, &ss, &sl, err, sizeof(err))) {
			fprintf(stderr, "arenatrace: agent: --listen %s\n", err);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	pthread_mutex_init(&ag->lock, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ag->http = http_server__start(ag->listen, AGENT_HTTP_TIMEOUT_S, on_http, ag, err, sizeof(err));
	if (!ag->http) {
		fprintf(stderr, "arenatrace: agent: %s\n", err);
		rc = EXIT_RUNTIME;
		goto out_lock;
	}
	pthread_mutex_lock(&ag->lock);
	/* Loaded once, no target yet: processes come and go as slots. */
	rc = loader__start(&ag->ld, 0, ag->o.btf_path, ag->o.verbose, ag->o.call_graph, ag->o.sample_bytes,
			   on_record, ag);
	if (rc) {
		pthread_mutex_unlock(&ag->lock);
		http_server__stop(ag->http);
		goto out_lock;
	}
	ag->ld_started = true;
	fprintf(stderr, "arenatrace: agent: serving http://%s/metrics (port %u)\n", ag->listen,
		http_server__port(ag->http));
	ag->start_ns = session__clock_ns();
	discovery__scan(&ag->disc, add_target, ag);
	pthread_mutex_unlock(&ag->lock);

	interval = (uint64_t)(ag->o.interval_s * 1e9);
	poll = interval / 4 < 50000000ULL ? interval / 4 : 50000000ULL;
	next_tick = session__clock_ns() + interval;
	rc = EXIT_OK;
	while (!stop_requests) {
		struct timespec ts = { .tv_sec = poll / 1000000000ULL, .tv_nsec = poll % 1000000000ULL };
		uint64_t now;

		nanosleep(&ts, NULL);
		pthread_mutex_lock(&ag->lock);
		if (drain_all(ag) < 0) {
			pthread_mutex_unlock(&ag->lock);
			fprintf(stderr, "arenatrace: agent: reading the ring buffer failed\n");
			rc = EXIT_RUNTIME;
			break;
		}
		now = session__clock_ns();
		if (now >= next_tick) {
			tick_all(ag);
			while (next_tick <= now)
				next_tick += interval;
		}
		pthread_mutex_unlock(&ag->lock);
	}
	http_server__stop(ag->http);
	fprintf(stderr, "arenatrace: agent: stopped; %llu events lost in all\n", (unsigned long long)lost_total(ag));
	for (size_t i = 0; i < ag->nr_t; i++)
		target_free(ag, ag->t[i]);
	loader__stop(&ag->ld);
out_lock:
	pthread_mutex_destroy(&ag->lock);
out:
	discovery__free(&ag->disc);
	free(ag->refused);
	free(ag);
	return rc;
}
