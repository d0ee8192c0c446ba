// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * floor -- CMD ARGS: attaches the empty programs of bpf/floor.bpf.c, runs CMD,
 * detaches when it exits. The "floor" row of `make bench`.
 * floor --wait: attaches, prints READY, detaches on SIGINT or SIGTERM (the
 * paired phases of `make bench`).
 * floor --toggle MS [empty|none|arenatrace PID]: attaches and detaches every MS
 * milliseconds until SIGINT or SIGTERM, printing "on T" and "off T" (T in
 * CLOCK_MONOTONIC seconds) as it does: the toggled windows of `make bench`,
 * whose phases are short enough that the vCPU's speed changes hit both alike.
 * What it toggles: the empty programs (default); nothing (the placebo, same
 * steps); or arenatrace's own programs set to trace PID (an idle process), so
 * every other process's faults and syscalls take the path that turns them
 * away: what arenatrace costs a process it does not trace.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "floor.skel.h"
#include "arenatrace_records.h" /* before the skeleton: its .bss holds target states */
#include "arenatrace.skel.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* One set of programs to toggle: attach() and detach() of a loaded skeleton. */
struct hooks {
	int (*attach)(void *skel);
	void (*detach)(void *skel);
	void *skel;
};

static int floor_attach(void *s) { return floor_bpf__attach(s); }
static void floor_detach(void *s) { floor_bpf__detach(s); }
static int at_attach(void *s) { return arenatrace_bpf__attach(s); }
static void at_detach(void *s) { arenatrace_bpf__detach(s); }

/* arenatrace's programs as its loader sets them up for one target (user/loader.c). */
static struct arenatrace_bpf *load_arenatrace(pid_t target)
{
	struct arenatrace_bpf *skel = arenatrace_bpf__open();
	int cpus = libbpf_num_possible_cpus();

	if (!skel || cpus <= 0)
		return NULL;
	skel->rodata->target_tgid = (__u32)target;
	skel->rodata->nr_cpus = (__u32)cpus;
	bpf_map__set_max_entries(skel->maps.cpu_ctxs, (__u32)cpus);
	if (arenatrace_bpf__load(skel)) {
		arenatrace_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static int toggle(int argc, char **argv)
{
	const char *what = argc > 3 ? argv[3] : "empty";
	long ms = strtol(argv[2], NULL, 10);
	struct hooks h = { 0 };

	if (ms <= 0) {
		fprintf(stderr, "floor: --toggle needs a period in milliseconds\n");
		return 2;
	}
	if (!strcmp(what, "empty")) {
		h = (struct hooks){ floor_attach, floor_detach, floor_bpf__open_and_load() };
	} else if (!strcmp(what, "arenatrace") && argc > 4) {
		h = (struct hooks){ at_attach, at_detach, load_arenatrace((pid_t)strtol(argv[4], NULL, 10)) };
	} else if (strcmp(what, "none")) {
		fprintf(stderr, "floor: --toggle MS [empty|none|arenatrace PID]\n");
		return 2;
	}
	if (h.attach && !h.skel) {
		fprintf(stderr, "floor: loading the BPF programs failed (root?)\n");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stopping) {
		if (h.attach && h.attach(h.skel)) {
			fprintf(stderr, "floor: attaching failed\n");
			return 1;
		}
		printf("on %.6f\n", now_s());
		fflush(stdout);
		usleep(ms * 1000);
		if (h.detach)
			h.detach(h.skel);
		printf("off %.6f\n", now_s());
		fflush(stdout);
		usleep(ms * 1000);
	}
	if (h.skel && h.attach == floor_attach)
		floor_bpf__destroy(h.skel);
	else if (h.skel)
		arenatrace_bpf__destroy(h.skel);
	return 0;
}

int main(int argc, char **argv)
{
	int wait_mode = argc == 2 && !strcmp(argv[1], "--wait");
	struct floor_bpf *skel;
	int status = 0;
	pid_t pid;

	if (argc >= 3 && !strcmp(argv[1], "--toggle"))
		return toggle(argc, argv);
	if (!wait_mode && (argc < 3 || strcmp(argv[1], "--"))) {
		fprintf(stderr, "usage: floor -- CMD [ARGS...]   or   floor --wait   or   "
				"floor --toggle MS [empty|none|arenatrace PID]\n");
		return 2;
	}
	skel = floor_bpf__open_and_load();
	if (!skel || floor_bpf__attach(skel)) {
		fprintf(stderr, "floor: loading the empty BPF programs failed (root?)\n");
		return 1;
	}
	if (wait_mode) {
		sigset_t stop, none;

		/* Blocked until sigsuspend(), so a signal right after READY is not lost. */
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		sigemptyset(&stop);
		sigaddset(&stop, SIGINT);
		sigaddset(&stop, SIGTERM);
		sigprocmask(SIG_BLOCK, &stop, &none);
		printf("READY\n");
		fflush(stdout);
		sigsuspend(&none);
		floor_bpf__destroy(skel);
		return 0;
	}
	pid = fork();
	if (pid == 0) {
		execvp(argv[2], &argv[2]);
		perror("floor: exec");
		_exit(127);
	}
	waitpid(pid, &status, 0);
	floor_bpf__destroy(skel);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
