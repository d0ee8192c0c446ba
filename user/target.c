#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "target.h"

void target__read_comm(struct target *t)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", t->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(t->comm, sizeof(t->comm), f))
		t->comm[strcspn(t->comm, "\n")] = '\0';
	fclose(f);
}

int target__fork(struct target *t, char **cmd)
{
	int go[2], err[2];
	pid_t pid;

	memset(t, 0, sizeof(*t));
	t->pidfd = -1;
	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		fprintf(stderr, "arenatrace: pipe: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "arenatrace: fork: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(err[0]);
		/* Wait until the BPF programs are attached; EOF means the tracer gave up. */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* Stop right after exec so the tracer can read the fresh image exactly. */
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0) {
			execvp(cmd[0], cmd);
		}
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	t->pid = pid;
	t->launched = true;
	t->go_fd = go[1];
	t->err_fd = err[0];
	return 0;
}

int target__exec_stopped(struct target *t, char **cmd)
{
	int status, e = 0;
	ssize_t n;

	if (write(t->go_fd, "g", 1) != 1) {
		fprintf(stderr, "arenatrace: cannot release the child: %s\n", strerror(errno));
		return EXIT_RUNTIME;
	}
	close(t->go_fd);
	t->go_fd = -1;
	n = read(t->err_fd, &e, sizeof(e));
	close(t->err_fd);
	t->err_fd = -1;
	if (n == sizeof(e)) {
		waitpid(t->pid, &status, 0);
		t->exited = true;
		if (e == ENOENT)
			fprintf(stderr, "arenatrace: command not found: %s (check the name and PATH)\n", cmd[0]);
		else
			fprintf(stderr, "arenatrace: cannot run %s: %s\n", cmd[0], strerror(e));
		return EXIT_USAGE;
	}
	if (waitpid(t->pid, &status, 0) != t->pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "arenatrace: %s did not start (status 0x%x)\n", cmd[0], status);
		t->exited = true;
		return EXIT_RUNTIME;
	}
	target__read_comm(t);
	return 0;
}

void target__resume(struct target *t)
{
	ptrace(PTRACE_DETACH, t->pid, NULL, NULL);
}

static int proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	return p && p[1] == ' ' ? p[2] : 0;
}

int target__attach(struct target *t, pid_t pid)
{
	int state;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->pidfd = -1;
	t->go_fd = t->err_fd = -1;
	if (kill(pid, 0) && errno == ESRCH) {
		fprintf(stderr, "arenatrace: no process with PID %d (check the PID with ps)\n", pid);
		return EXIT_USAGE;
	}
	state = proc_state(pid);
	if (state == 'Z' || state == 'X' || !state) {
		fprintf(stderr, "arenatrace: process %d is exiting (state %c); nothing to trace\n", pid,
			state ? state : '?');
		return EXIT_USAGE;
	}
	if (syscall(SYS_getpid) == pid) {
		fprintf(stderr, "arenatrace: refusing to trace itself (PID %d)\n", pid);
		return EXIT_USAGE;
	}
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	target__read_comm(t);
	return 0;
}

bool target__poll_exit(struct target *t)
{
	int status;

	if (t->exited)
		return true;
	if (t->launched) {
		pid_t r = waitpid(t->pid, &status, WNOHANG);

		if (r == t->pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
			t->exited = true;
			t->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		return t->exited;
	}
	if (kill(t->pid, 0) && errno == ESRCH)
		t->exited = true;
	else if (proc_state(t->pid) == 'Z' || proc_state(t->pid) == 0)
		t->exited = true;
	return t->exited;
}

void target__kill(struct target *t, int sig)
{
	if (t->launched && !t->exited && t->pid > 0)
		kill(t->pid, sig);
}

void target__close(struct target *t)
{
	if (t->go_fd > 0)
		close(t->go_fd);
	if (t->err_fd > 0)
		close(t->err_fd);
	if (t->pidfd >= 0)
		close(t->pidfd);
	t->go_fd = t->err_fd = t->pidfd = -1;
}
