/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What the test workloads share: the READY/newline handshake with the tests. */
#ifndef ARENATRACE_WORKLOAD_H
#define ARENATRACE_WORKLOAD_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Blocks until one line arrives on stdin; exits 0 on EOF (the test is gone). */
static inline void wait_line(void)
{
	char c;

	for (;;) {
		ssize_t n = read(0, &c, 1);

		if (n == 1 && c == '\n')
			return;
		if (n == 0 || (n < 0 && errno != EINTR))
			exit(0);
	}
}

#endif
