/* One tracing session: target, BPF, ledger and outputs, from start to final records. */
#ifndef ARENATRACE_TRACER_H
#define ARENATRACE_TRACER_H

#include "cli.h"

/* Runs until the target exits, -d elapses or a signal arrives; returns the exit code. */
int tracer__run(const struct options *o);

#endif
