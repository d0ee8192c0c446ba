/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the bench loops share: timing their work, and the two ways `make bench`
 * runs them.
 * - A whole run: the work once, after a start delay, then one result line:
 *   elapsed_s=<wall seconds> cpu_s=<the process's CPU seconds>, then what the
 *   loop adds.
 * - A stream (a last argument "stream"): the work's unit (a chunk of faults, a
 *   churn round) repeated until stdin closes, and every 20 ms a progress line
 *   "t=<CLOCK_MONOTONIC seconds> units=<units done so far>". `make bench`
 *   attaches and detaches tracers meanwhile and compares the rate of units in
 *   traced and untraced windows of the same busy process (see bench.py).
 */
#ifndef ARENATRACE_BENCH_LOOP_H
#define ARENATRACE_BENCH_LOOP_H

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long bench_units; /* units done, added to atomically */
static int bench_stop;            /* set when a stream ends */

static inline double bench_clock_s(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* True (and the argument dropped) when the last argument asks for a stream. */
static inline int bench_stream_mode(int *argc, char **argv)
{
	if (*argc > 1 && !strcmp(argv[*argc - 1], "stream")) {
		(*argc)--;
		return 1;
	}
	return 0;
}

static inline void bench_unit_done(unsigned long n)
{
	__atomic_add_fetch(&bench_units, n, __ATOMIC_RELAXED);
}

static inline int bench_stopping(void)
{
	return __atomic_load_n(&bench_stop, __ATOMIC_RELAXED);
}

/* A whole run of work(); tail() prints what follows cpu_s on the result line. */
static inline int bench_whole_run(unsigned long delay_ms, void (*work)(void), void (*tail)(void))
{
	double t0, c0;

	usleep(delay_ms * 1000);
	t0 = bench_clock_s(CLOCK_MONOTONIC);
	c0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
	work();
	printf("elapsed_s=%.6f cpu_s=%.6f", bench_clock_s(CLOCK_MONOTONIC) - t0,
	       bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
	if (tail)
		tail();
	printf("\n");
	return 0;
}

/* A stream: run() starts the workers (they call bench_unit_done() per unit and
 * return when bench_stopping()); this thread prints progress until stdin closes,
 * then stops them and calls join(). */
static inline int bench_stream(void (*run)(void), void (*join)(void))
{
	struct pollfd in = { .fd = 0, .events = POLLIN };

	printf("READY\n");
	fflush(stdout);
	run();
	for (;;) {
		char buf[64];

		printf("t=%.6f units=%lu\n", bench_clock_s(CLOCK_MONOTONIC),
		       __atomic_load_n(&bench_units, __ATOMIC_RELAXED));
		fflush(stdout);
		if (poll(&in, 1, 20) > 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
	__atomic_store_n(&bench_stop, 1, __ATOMIC_RELAXED);
	join();
	return 0;
}

#endif
