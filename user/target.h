/* The traced process: launching a command stopped at its first instruction, or
 * checking a running PID; noticing when it is gone. */
#ifndef ARENATRACE_TARGET_H
#define ARENATRACE_TARGET_H

#include <stdbool.h>
#include <sys/types.h>

struct target {
	pid_t pid;
	bool launched;       /* we are its parent */
	int go_fd;           /* launch: write end that releases the child to exec */
	int err_fd;          /* launch: read end; exec's errno arrives here on failure */
	int pidfd;           /* attach: readable when the process exits (-1 if unsupported) */
	bool exited;
	int exit_status;     /* exit code, or 128 + signal */
	char comm[32];
};

/* Forks CMD, which waits until target__start_launched(). Returns 0 or an exit code. */
int target__fork(struct target *t, char **cmd);
/* Lets the forked child exec; returns once it is stopped right after exec (0), or
 * an exit code with a message (command not found: 2). */
int target__exec_stopped(struct target *t, char **cmd);
/* Resumes the child stopped after exec. */
void target__resume(struct target *t);
/* Checks PID exists and is alive; returns 0 or an exit code with a message. */
int target__attach(struct target *t, pid_t pid);
/* Non-blocking: has the target exited? Reaps it when launched. */
bool target__poll_exit(struct target *t);
/* Launch mode at stop: forward a signal so the child does not outlive us. */
void target__kill(struct target *t, int sig);
void target__close(struct target *t);
void target__read_comm(struct target *t);

#endif
