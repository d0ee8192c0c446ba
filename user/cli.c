#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

void cli__usage(FILE *out)
{
	fprintf(out,
"Usage: arenatrace [OPTIONS] -p PID\n"
"       arenatrace [OPTIONS] -- CMD [ARGS...]\n"
"       arenatrace report FILE [--json P] [--csv P] [--html P] [-q]   (see report --help)\n"
"       arenatrace agent [--listen ADDR:PORT] [--pid P,..] [--comm NAME,..] [--cgroup PATH,..]\n"
"                        (always on: Prometheus /metrics and pprof; see agent --help)\n"
"\n"
"Shows where a process's resident memory sits, arena by arena (brk heap, glibc\n"
"arenas, thread stacks, files, shared memory, other anonymous memory), and how\n"
"it changes, from kernel tracepoints; which code faulted it in (--call-graph);\n"
"what the allocator retained and the knob to try. Needs root (CAP_BPF, CAP_PERFMON).\n"
"\n"
"  -p, --pid PID        trace a running process (all its threads)\n"
"  -- CMD [ARGS...]     launch CMD and trace it from its first instruction\n"
"  -i, --interval SECS  sample interval, fractions allowed (default 1)\n"
"  -d, --duration SECS  stop after SECS (default: until Ctrl-C or target exit)\n"
"  -q, --quiet          no live table (it is also off when stdout is not a TTY)\n"
"      --json PATH      write the timeline as JSON Lines to PATH ('-' = stdout)\n"
"      --top N          arenas shown in the live table and summary (default 15)\n"
"      --retain-after SECS  resident memory untouched by any release for longer\n"
"                       than this counts as retained (default 30)\n"
"      --html PATH      write a self-contained HTML report when it stops\n"
"      --csv PATH       write the timeline as CSV when it stops\n"
"      --call-graph MODE  sample user stacks: dwarf (default; works without frame\n"
"                       pointers, as in Debian's glibc) or fp (cheaper, shallower)\n"
"      --sample-bytes N one stack per N bytes made resident, mapped or released (default 524288)\n"
"      --folded PATH    flame graph input (flamegraph.pl folded stacks), arena as root\n"
"      --folded-profile P  resident (default: who owns resident memory now),\n"
"                       faulted (bytes faulted in over the run), growth (mappings),\n"
"                       released (munmap, madvise), or inuse (--heap: live bytes\n"
"                       by allocation stack)\n"
"      --pprof PATH     gzipped pprof profile with all four as sample types (and\n"
"                       inuse_space with --heap)\n"
"      --debuginfod     let symbolization fetch debug info with debuginfod (slow)\n"
"      --heap           also measure the allocator's live bytes (uprobes on malloc, free, ...\n"
"                       of glibc, jemalloc, tcmalloc, mimalloc): each arena's live_bytes, and\n"
"                       retained_bytes becomes resident - live (instead of the age-based\n"
"                       figure); with --folded/--pprof, the inuse profile (live bytes by\n"
"                       allocation stack). Costs a few microseconds per malloc/free\n"
"      --heap-sample BYTES  with --heap: keep one allocation per BYTES allocated (on\n"
"                       average; 524288 is jemalloc's rate) with unbiased weights instead of\n"
"                       every one: far fewer map updates, still one probe hit per call\n"
"  -o, --output FILE    record the run to FILE for `arenatrace report FILE` later\n"
"                       (created with mode 0600; an existing file is refused)\n"
"      --force          with -o: replace an existing file (written aside, renamed at the end)\n"
"      --max-size BYTES with -o: stop recording at about BYTES (the file stays\n"
"                       valid and says it was cut; tracing goes on)\n"
"      --btf PATH       kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
"  -v, --verbose        libbpf debug output, and the kernel side's counters at the end\n"
"  -h, --help           this help\n"
"\n"
"Stops on Ctrl-C or SIGTERM (a second Ctrl-C stops at once), when -d elapses or\n"
"when the target exits; a final summary is printed and final JSON records written.\n"
"Exit status: 0 ok, 1 runtime failure, 2 usage error.\n");
}

int cli__parse_secs(const char *opt, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max) {
		fprintf(stderr, "arenatrace: %s expects seconds in %g..%g, got '%s'\n", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int cli__parse_call_graph(const char *s, bool allow_none, unsigned *mode)
{
	if (!strcmp(s, "dwarf"))
		*mode = 2;
	else if (!strcmp(s, "fp"))
		*mode = 1;
	else if (allow_none && !strcmp(s, "none"))
		*mode = 0;
	else {
		fprintf(stderr, "arenatrace: --call-graph expects dwarf%s or fp, got '%s'\n",
			allow_none ? ", none" : "", s);
		return -1;
	}
	return 0;
}

int cli__parse_uint(const char *opt, const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "arenatrace: %s expects a number in %ld..%ld, got '%s'\n", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int cli__parse_profile(const char *s, unsigned *out)
{
	static const char *const names[] = { "resident", "faulted", "growth", "released", "inuse" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i])) {
			*out = i;   /* enum profile_type */
			return 0;
		}
	fprintf(stderr, "arenatrace: --folded-profile expects resident, faulted, growth, released or inuse (--heap), "
		"got '%s'\n", s);
	return -1;
}

int cli__parse_shared(int id, const char *arg, bool agent, struct options *o)
{
	long v;

	switch (id) {
	case 'v': o->verbose = true; return 1;
	case CLI_OPT_BTF: o->btf_path = arg; return 1;
	case CLI_OPT_RETAIN:
		return cli__parse_secs("--retain-after", arg, 0.0, 31536000.0, &o->retain_after_s) ? -1 : 1;
	case CLI_OPT_CALL_GRAPH:
		/* The agent takes "none" (an empty /debug/pprof/heap); the tracer's default is none already. */
		return cli__parse_call_graph(arg, agent, &o->call_graph) ? -1 : 1;
	case CLI_OPT_SAMPLE_BYTES:
		if (cli__parse_uint("--sample-bytes", arg, 4096, 1L << 40, &v))
			return -1;
		o->sample_bytes = (unsigned long)v;
		return 1;
	default:
		return 0;
	}
}

int cli__parse(int argc, char **argv, struct options *o)
{
	enum { OPT_JSON = 256, OPT_TOP, OPT_HTML, OPT_CSV, OPT_FOLDED, OPT_FOLDED_PROFILE, OPT_PPROF, OPT_DEBUGINFOD,
	       OPT_FORCE, OPT_MAX_SIZE, OPT_HEAP, OPT_HEAP_SAMPLE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "duration", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "folded", required_argument, NULL, OPT_FOLDED },
		{ "folded-profile", required_argument, NULL, OPT_FOLDED_PROFILE },
		{ "pprof", required_argument, NULL, OPT_PPROF },
		{ "debuginfod", no_argument, NULL, OPT_DEBUGINFOD },
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "heap", no_argument, NULL, OPT_HEAP },
		{ "heap-sample", required_argument, NULL, OPT_HEAP_SAMPLE },
		CLI_SHARED_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c, r;

	memset(o, 0, sizeof(*o));
	o->interval_s = 1.0;
	o->top = 15;
	o->retain_after_s = 30.0;
	o->sample_bytes = 512 * 1024;
	/* '+': stop at the first non-option so the command's own flags stay its own. */
	while ((c = getopt_long(argc, argv, "+p:i:d:o:qvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli__parse_uint("-p", optarg, 1, INT_MAX, &v))
				return EXIT_USAGE;
			o->pid = (pid_t)v;
			break;
		case 'i':
			if (cli__parse_secs("-i", optarg, 0.01, 31536000.0, &o->interval_s))
				return EXIT_USAGE;
			break;
		case 'd':
			if (cli__parse_secs("-d", optarg, 0.01, 31536000.0, &o->duration_s))
				return EXIT_USAGE;
			break;
		case 'q': o->quiet = true; break;
		case 'h': cli__usage(stdout); return EXIT_OK;
		case OPT_JSON: o->json_path = optarg; break;
		case OPT_HTML: o->html_path = optarg; break;
		case OPT_CSV: o->csv_path = optarg; break;
		case OPT_FOLDED: o->folded_path = optarg; break;
		case OPT_FOLDED_PROFILE:
			if (cli__parse_profile(optarg, &o->folded_profile))
				return EXIT_USAGE;
			break;
		case OPT_PPROF: o->pprof_path = optarg; break;
		case OPT_DEBUGINFOD: o->debuginfod = true; break;
		case 'o': o->record_path = optarg; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_MAX_SIZE:
			if (cli__parse_uint("--max-size", optarg, 4096, LONG_MAX, &v))
				return EXIT_USAGE;
			o->max_size = (uint64_t)v;
			break;
		case OPT_HEAP: o->heap = true; break;
		case OPT_HEAP_SAMPLE:
			if (cli__parse_uint("--heap-sample", optarg, 1, 1L << 40, &v))
				return EXIT_USAGE;
			o->heap_sample = (uint64_t)v;
			break;
		case OPT_TOP:
			if (cli__parse_uint("--top", optarg, 1, 10000, &v))
				return EXIT_USAGE;
			o->top = (unsigned)v;
			break;
		default:
			r = cli__parse_shared(c, optarg, false, o);
			if (r > 0)
				break;
			if (r == 0)
				fprintf(stderr, "Try 'arenatrace --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	/* Profiles need stacks; DWARF by default (Debian's glibc has no frame pointers). */
	if (!o->call_graph && (o->folded_path || o->pprof_path))
		o->call_graph = 2;
	if ((o->force || o->max_size) && !o->record_path) {
		fprintf(stderr, "arenatrace: --force and --max-size go with -o FILE\nTry 'arenatrace --help'.\n");
		return EXIT_USAGE;
	}
	if (o->heap_sample && !o->heap) {
		fprintf(stderr, "arenatrace: --heap-sample goes with --heap\nTry 'arenatrace --help'.\n");
		return EXIT_USAGE;
	}
	if (o->heap && o->record_path) {
		fprintf(stderr, "arenatrace: --heap cannot be recorded with -o yet (its uprobe data is not part "
			"of the recording); run them separately\n");
		return EXIT_USAGE;
	}
	if (o->folded_profile == 4 /* PROFILE_INUSE */ && !o->heap) {
		fprintf(stderr, "arenatrace: --folded-profile inuse needs --heap (live bytes by allocation stack)\n");
		return EXIT_USAGE;
	}
	if (!o->pid == !o->cmd) {
		fprintf(stderr, "arenatrace: %s\nTry 'arenatrace --help'.\n",
			o->pid ? "give either -p PID or -- CMD, not both"
			       : "nothing to trace: give -p PID or -- CMD [ARGS...]");
		return EXIT_USAGE;
	}
	return -1;
}
