/*
 * `arenatrace agent`: the always-on mode. Follows every process that matches
 * --pid/--comm/--cgroup (picked up within one interval, dropped when it
 * exits), keeps a bounded recent past per process, and serves it over HTTP:
 * /metrics (Prometheus), /debug/pprof/heap (gzipped pprof) and / (the HTML
 * report). Never reads or writes the targets' memory.
 */
#ifndef ARENATRACE_AGENT_H
#define ARENATRACE_AGENT_H

#define ARENATRACE_VERSION "0.7.0"

/* argv[0] is "agent". Returns the exit code. */
int agent__main(int argc, char **argv);

#endif
