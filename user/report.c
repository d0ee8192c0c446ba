#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "trace_file.h"
#include "tracer.h"
#include "report.h"

static void usage(FILE *out)
{
	fprintf(out,
"Usage: arenatrace report FILE [OPTIONS]\n"
"\n"
"Redoes the analysis of a run recorded with `arenatrace -o FILE`: the same final\n"
"summary, JSON, CSV and HTML as the live run. Needs no root and no target.\n"
"\n"
"      --json PATH      the timeline as JSON Lines ('-' = stdout)\n"
"      --csv PATH       the timeline as CSV\n"
"      --html PATH      the self-contained HTML report (with the flame graph when\n"
"                       the run was recorded with stacks)\n"
"      --folded PATH    the stacks as folded text, for flamegraph.pl/speedscope\n"
"      --folded-profile P  resident (default), faulted, growth or released\n"
"      --pprof PATH     the stack profiles as gzipped pprof protobuf\n"
"      --top N          arenas in the summary (default: as recorded)\n"
"  -q, --quiet          no terminal summary\n"
"  -v, --verbose        how many events were replayed, how fast\n"
"  -h, --help           this help\n"
"\n"
"A recording cut short (the tracer killed, a full disk, --max-size) is reported\n"
"up to where it ends, with a warning.\n"
"\n"
"Stacks (--folded, --pprof, the flame graph) need a run recorded with\n"
"--call-graph, --folded or --pprof. They are stored unwound, as addresses, with\n"
"the table of code mappings; names and lines are read from the binaries on this\n"
"machine at report time. Where a binary is missing or has changed (another\n"
"machine, a rebuild), its frames stay module+offset or name the wrong code;\n"
"vdso frames stay unresolved. Exit status: 0 ok, 1 unreadable recording\n"
"or write failure, 2 usage error.\n");
}

int report__main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_CSV, OPT_HTML, OPT_TOP, OPT_FOLDED, OPT_FOLDED_PROFILE, OPT_PPROF };
	static const struct option longopts[] = {
		{ "json", required_argument, NULL, OPT_JSON },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "html", required_argument, NULL, OPT_HTML },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "folded", required_argument, NULL, OPT_FOLDED },
		{ "folded-profile", required_argument, NULL, OPT_FOLDED_PROFILE },
		{ "pprof", required_argument, NULL, OPT_PPROF },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o;
	struct trace_reader r;
	bool quiet = false;
	const char *path;
	FILE *f;
	long v;
	int c, rc;

	memset(&o, 0, sizeof(o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON: o.json_path = optarg; break;
		case OPT_CSV: o.csv_path = optarg; break;
		case OPT_HTML: o.html_path = optarg; break;
		case OPT_TOP:
			if (cli__parse_uint("--top", optarg, 1, 10000, &v))
				return EXIT_USAGE;
			o.top = (unsigned)v;
			break;
		case OPT_FOLDED: o.folded_path = optarg; break;
		case OPT_FOLDED_PROFILE:
			if (cli__parse_profile(optarg, &o.folded_profile))
				return EXIT_USAGE;
			break;
		case OPT_PPROF: o.pprof_path = optarg; break;
		case 'q': quiet = true; break;
		case 'v': o.verbose = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		default:
			fprintf(stderr, "Try 'arenatrace report --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "arenatrace: report: give exactly one recording FILE\nTry 'arenatrace report --help'.\n");
		return EXIT_USAGE;
	}
	path = argv[optind];
	f = fopen(path, "rbe");
	if (!f) {
		fprintf(stderr, "arenatrace: report: cannot open %s: %s\n", path, strerror(errno));
		return errno == ENOENT ? EXIT_USAGE : EXIT_RUNTIME;
	}
	if (trace_reader__open(&r, f)) {
		fprintf(stderr, "arenatrace: report: %s: %s\n", path, r.msg);
		fclose(f);
		return EXIT_RUNTIME;
	}
	/* The next chunks inflate on a worker while this one replays (one worker:
	 * replaying and inflating take about as long, a second one only competes
	 * for the CPUs). */
	trace_reader__prefetch(&r, 1);
	rc = tracer__replay(&o, &r, !quiet);
	if (r.status == TRACE_TRUNCATED || r.status == TRACE_CORRUPT)
		fprintf(stderr, "arenatrace: report: warning: %s: %s (%llu bytes not read); "
			"the report covers the run up to there\n", path, r.msg, (unsigned long long)r.skipped_bytes);
	else if (r.status == TRACE_EOF && !r.end_seen)
		fprintf(stderr, "arenatrace: report: warning: %s ends without its end mark (the tracer was "
			"killed or the disk filled up); the report covers the run up to its last flush\n", path);
	else if (r.end_seen && (r.end_flags & TRACE_END_TRUNCATED))
		fprintf(stderr, "arenatrace: report: warning: %s was cut at --max-size; the report covers "
			"the run up to there\n", path);
	trace_reader__close(&r);
	fclose(f);
	return rc;
}
