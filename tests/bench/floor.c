// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * floor -- CMD ARGS: attaches the empty programs of bpf/floor.bpf.c, runs CMD,
 * detaches when it exits. The "floor" row of `make bench`.
 * floor --wait: attaches, prints READY, detaches on SIGINT or SIGTERM (the
 * paired phases of `make bench`).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "floor.skel.h"

static void on_signal(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	int wait_mode = argc == 2 && !strcmp(argv[1], "--wait");
	struct floor_bpf *skel;
	int status = 0;
	pid_t pid;

	if (!wait_mode && (argc < 3 || strcmp(argv[1], "--"))) {
		fprintf(stderr, "usage: floor -- CMD [ARGS...]   or   floor --wait\n");
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
