/*
 * Which processes the agent follows: a scan of /proc by pid list, comm
 * (/proc/PID/comm) and cgroup (/proc/PID/cgroup, the v2 path or any v1
 * hierarchy's). A process matches when it matches any selector given.
 * Kernel threads, zombies and the agent itself never match.
 */
#ifndef ARENATRACE_DISCOVERY_H
#define ARENATRACE_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct discovery {
	pid_t *pids;
	size_t nr_pids;
	char **comms;       /* exact comm names (at most 15 characters, as the kernel keeps them) */
	size_t nr_comms;
	char **cgroups;     /* a cgroup path: the process's cgroup is it or below it */
	size_t nr_cgroups;
	pid_t self;
};

/* Adds "P[,P...]", "NAME[,NAME...]" or "PATH[,PATH...]". 0, or -1 (message printed). */
int discovery__add_pids(struct discovery *d, const char *list);
int discovery__add_comms(struct discovery *d, const char *list);
int discovery__add_cgroups(struct discovery *d, const char *list);
bool discovery__empty(const struct discovery *d);
void discovery__free(struct discovery *d);

/* Does pid match now? (false when it is gone, a kernel thread or a zombie) */
bool discovery__matches(const struct discovery *d, pid_t pid);
/* Calls fn for every matching process (thread group leaders only). 0 or -errno. */
int discovery__scan(const struct discovery *d, void (*fn)(void *cookie, pid_t pid), void *cookie);

/* True when the cgroup line set in text (as /proc/PID/cgroup) puts the process in
 * path or below it. Exposed for the unit tests. */
bool discovery__cgroup_match(const char *text, const char *path);

#endif
