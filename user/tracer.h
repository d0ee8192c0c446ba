/* One tracing session: target, BPF, ledger and outputs, from start to final records. */
#ifndef ARENATRACE_TRACER_H
#define ARENATRACE_TRACER_H

#include <stdbool.h>
#include "cli.h"

/* Runs until the target exits, -d elapses or a signal arrives; returns the exit code. */
int tracer__run(const struct options *o);

struct trace_reader;
/* `report`: redoes a recorded run's analysis with o's outputs (cmd, pid, interval
 * and retain-after come from the recording); summary false = no terminal summary. */
int tracer__replay(struct options *o, struct trace_reader *r, bool summary);

#endif
