/* Command line of the tracer. */
#ifndef ARENATRACE_CLI_H
#define ARENATRACE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct options {
	pid_t pid;              /* -p: attach */
	char **cmd;             /* -- CMD ARGS: launch */
	double interval_s;      /* -i */
	double duration_s;      /* -d, 0 = until stopped */
	bool quiet;             /* -q: no live table */
	bool verbose;           /* -v: libbpf debug output */
	const char *json_path;  /* --json, "-" = stdout */
	const char *btf_path;   /* --btf: BTF of the running kernel if not in /sys */
	unsigned top;           /* --top: arenas shown in the live table */
	double retain_after_s;  /* --retain-after: resident this long with no release = retained */
	const char *html_path;  /* --html: self-contained report written at the end */
	const char *csv_path;   /* --csv: the timeline for spreadsheets, written at the end */
	/* Stacks (on with --call-graph, --folded or --pprof). */
	unsigned call_graph;    /* 0 off, else enum arenatrace_stack_mode */
	unsigned long sample_bytes; /* --sample-bytes: one stack per this many bytes */
	const char *folded_path;    /* --folded */
	unsigned folded_profile;    /* --folded-profile: enum profile_type */
	const char *pprof_path;     /* --pprof */
	bool debuginfod;            /* --debuginfod */
	/* Recording (-o): the inputs, for `arenatrace report` later. */
	const char *record_path;    /* -o */
	bool force;                 /* --force: replace an existing file of ours */
	uint64_t max_size;          /* --max-size: stop recording there, 0 = no bound */
	/* Heap mode (heap.c): the allocator's live bytes from uprobes. */
	bool heap;                  /* --heap */
	uint64_t heap_sample;       /* --heap-sample: 0 = exact, else one block per this many bytes */
};

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* Returns -1 to go on, or an exit code (help printed: 0, bad usage: 2). */
int cli__parse(int argc, char **argv, struct options *o);
void cli__usage(FILE *out);
/* Shared by `arenatrace report`: a number in min..max, and a profile name
 * (resident, faulted, growth, released -> enum profile_type); 0 or -1 (said why). */
int cli__parse_uint(const char *opt, const char *s, long min, long max, long *out);
/* Seconds in [min, max] into *out; prints what was expected and returns -1 otherwise. */
int cli__parse_secs(const char *opt, const char *s, double min, double max, double *out);
/* --call-graph: dwarf (2), fp (1), and none (0) when allow_none. */
int cli__parse_call_graph(const char *s, bool allow_none, unsigned *mode);
int cli__parse_profile(const char *s, unsigned *out);

/* The options the tracer and the agent share (--retain-after, --call-graph,
 * --sample-bytes, --btf, -v): their getopt ids and table rows, and one parser.
 * cli__parse_shared() returns 1 when id was one of them (parsed), 0 when it is
 * not, -1 on a bad value (the message is printed). */
enum { CLI_OPT_RETAIN = 200, CLI_OPT_CALL_GRAPH, CLI_OPT_SAMPLE_BYTES, CLI_OPT_BTF };
#define CLI_SHARED_LONGOPTS                                                        \
	{ "retain-after", required_argument, NULL, CLI_OPT_RETAIN },               \
	{ "call-graph", required_argument, NULL, CLI_OPT_CALL_GRAPH },             \
	{ "sample-bytes", required_argument, NULL, CLI_OPT_SAMPLE_BYTES },         \
	{ "btf", required_argument, NULL, CLI_OPT_BTF },                           \
	{ "verbose", no_argument, NULL, 'v' }
int cli__parse_shared(int id, const char *arg, bool agent, struct options *o);

#endif
