// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * floor -- CMD ARGS: attaches the empty programs of bpf/floor.bpf.c, runs CMD,
 * detaches when it exits. The "floor" row of `make bench`.
 * floor --wait: attaches, prints READY, detaches on SIGINT or SIGTERM (the
 * paired phases of `make bench`).
 * floor --toggle MS [empty|none|arenatrace PID|agent]: attaches and detaches every MS
 * milliseconds until SIGINT or SIGTERM, printing "on T" and "off T" (T in
 * CLOCK_MONOTONIC seconds) as it does: the toggled windows of `make bench`,
 * whose phases are short enough that the vCPU's speed changes hit both alike.
 * What it toggles: the empty programs (default); nothing (the placebo, same
 * steps); or arenatrace's own programs, loaded by the tracer's loader
 * (user/loader.c) to trace PID (an idle process), so
 * every other process's faults and syscalls take the path that turns them
 * away: what arenatrace costs a process it does not trace; or the agent's
 * programs, following nothing: what the always-on agent costs every process
 * it does not follow.
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
#include "loader.h"

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

/* One set of programs to toggle, loaded once. */
struct hooks {
	int (*attach)(struct hooks *h);
	void (*detach)(struct hooks *h);
	void (*destroy)(struct hooks *h);
	struct floor_bpf *floor;
	struct loader ld; /* arenatrace's, loaded as the tracer loads them */
};

static int floor_attach(struct hooks *h) { return floor_bpf__attach(h->floor); }
static void floor_detach(struct hooks *h) { floor_bpf__detach(h->floor); }
static void floor_destroy(struct hooks *h) { floor_bpf__destroy(h->floor); }
static int at_attach(struct hooks *h) { return arenatrace_bpf__attach(h->ld.skel); }
static void at_detach(struct hooks *h) { arenatrace_bpf__detach(h->ld.skel); }
static void at_destroy(struct hooks *h) { loader__stop(&h->ld); }

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
		h.floor = floor_bpf__open_and_load();
		if (!h.floor) {
			fprintf(stderr, "floor: loading the empty BPF programs failed (root?)\n");
			return 1;
		}
		h.attach = floor_attach, h.detach = floor_detach, h.destroy = floor_destroy;
	} else if ((!strcmp(what, "arenatrace") && argc > 4) || !strcmp(what, "agent")) {
		long pid = 0; /* the agent's programs, their filters empty */

		if (!strcmp(what, "arenatrace")) {
			char *end;

			pid = strtol(argv[4], &end, 10);
			/* 0 would load the agent's programs, not one target's. */
			if (*end || pid <= 0) {
				fprintf(stderr, "floor: --toggle MS arenatrace PID: %s is not a process id\n", argv[4]);
				return 2;
			}
		}
		/* The loader prints what went wrong. */
		if (loader__load(&h.ld, (pid_t)pid, NULL, false, 0, 512 * 1024))
			return 1;
		h.attach = at_attach, h.detach = at_detach, h.destroy = at_destroy;
	} else if (strcmp(what, "none")) {
		fprintf(stderr, "floor: --toggle MS [empty|none|arenatrace PID|agent]\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stopping) {
		if (h.attach && h.attach(&h)) {
			fprintf(stderr, "floor: attaching the programs failed\n");
			h.destroy(&h);
			return 1;
		}
		printf("on %.6f\n", now_s());
		fflush(stdout);
		usleep(ms * 1000);
		if (h.detach)
			h.detach(&h);
		printf("off %.6f\n", now_s());
		fflush(stdout);
		usleep(ms * 1000);
	}
	if (h.destroy)
		h.destroy(&h);
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
				"floor --toggle MS [empty|none|arenatrace PID|agent]\n");
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
