// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * faultloop: the fault-bound loop. Maps anonymous memory in 256 MiB chunks,
 * writes one byte per 4 KiB page (one write fault each), unmaps, repeats until
 * TOTAL_MIB were touched. Times only the loop, after a start delay, so tracer
 * start-up is not counted.   faultloop [TOTAL_MIB=4096] [DELAY_MS=300]
 * Prints: elapsed_s=<seconds> cpu_s=<its CPU time> faults=<n> kernel_faults=<the
 * kernel's count for the whole process>
 * faultloop stream: 16 MiB chunks until stdin closes, progress in faults, every
 * 256 (bench_loop.h).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include "bench_loop.h"

static unsigned long total, faults;
static pthread_t worker;

/* progress: report every 256 faults (a stream's unit is a fault). */
static void touch_chunk(unsigned long len, int progress)
{
	volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("faultloop: mmap");
		exit(1);
	}
	for (unsigned long i = 0; i < len; i += 4096, faults++) {
		p[i] = 1;
		if (progress && (faults & 255) == 255)
			bench_unit_done(256);
	}
	munmap((void *)p, len);
}

static void work(void)
{
	for (unsigned long done = 0; done < total; done += 256UL << 20)
		touch_chunk(256UL << 20, 0);
}

static void tail(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf(" faults=%lu kernel_faults=%ld", faults, ru.ru_minflt + ru.ru_majflt);
}

static void *stream_worker(void *arg)
{
	(void)arg;
	while (!bench_stopping())
		touch_chunk(16UL << 20, 1);
	return NULL;
}

static void stream_run(void)
{
	pthread_create(&worker, NULL, stream_worker, NULL);
}

static void stream_join(void)
{
	pthread_join(worker, NULL);
}

int main(int argc, char **argv)
{
	if (bench_stream_mode(&argc, argv))
		return bench_stream(stream_run, stream_join);
	total = (argc > 1 ? strtoul(argv[1], NULL, 10) : 4096) << 20;
	return bench_whole_run(argc > 2 ? strtoul(argv[2], NULL, 10) : 300, work, tail);
}
