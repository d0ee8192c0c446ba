// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * floor -- CMD ARGS: attaches the empty programs of bpf/floor.bpf.c, runs CMD,
 * detaches when it exits. The "floor" row of `make bench`.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "floor.skel.h"

int main(int argc, char **argv)
{
	struct floor_bpf *skel;
	int status = 0;
	pid_t pid;

	if (argc < 3 || strcmp(argv[1], "--")) {
		fprintf(stderr, "usage: floor -- CMD [ARGS...]\n");
		return 2;
	}
	skel = floor_bpf__open_and_load();
	if (!skel || floor_bpf__attach(skel)) {
		fprintf(stderr, "floor: loading the empty BPF programs failed (root?)\n");
		return 1;
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
