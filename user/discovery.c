#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "discovery.h"

static int add_word(char ***v, size_t *n, const char *w, size_t len)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (!nv)
		return -1;
	*v = nv;
	if (!(nv[*n] = strndup(w, len)))
		return -1;
	(*n)++;
	return 0;
}

/* Splits list at commas; empty words are refused. */
static int add_list(char ***v, size_t *n, const char *opt, const char *list, size_t max_len)
{
	const char *p = list;

	for (;;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (!len || len > max_len) {
			fprintf(stderr, "arenatrace: agent: %s expects a comma-separated list of names of 1..%zu "
				"characters, got '%s'\n", opt, max_len, list);
			return -1;
		}
		if (add_word(v, n, p, len)) {
			fprintf(stderr, "arenatrace: out of memory\n");
			return -1;
		}
		if (!c)
			return 0;
		p = c + 1;
	}
}

int discovery__add_pids(struct discovery *d, const char *list)
{
	const char *p = list;

	for (;;) {
		char *end;
		long v;
		pid_t *np;

		errno = 0;
		v = strtol(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || v < 1 || v > INT_MAX || !isdigit((unsigned char)*p)) {
			fprintf(stderr, "arenatrace: agent: --pid expects P[,P...] with each P a process id, got '%s'\n",
				list);
			return -1;
		}
		np = realloc(d->pids, (d->nr_pids + 1) * sizeof(*np));
		if (!np)
			return -1;
		d->pids = np;
		d->pids[d->nr_pids++] = (pid_t)v;
		if (!*end)
			return 0;
		p = end + 1;
	}
}

int discovery__add_comms(struct discovery *d, const char *list)
{
	return add_list(&d->comms, &d->nr_comms, "--comm", list, 15);
}

int discovery__add_cgroups(struct discovery *d, const char *list)
{
	size_t first = d->nr_cgroups;

	if (add_list(&d->cgroups, &d->nr_cgroups, "--cgroup", list, PATH_MAX))
		return -1;
	/* As /proc/PID/cgroup writes them: rooted, no trailing slash (but "/"). */
	for (size_t i = first; i < d->nr_cgroups; i++) {
		char *c = d->cgroups[i];
		size_t len;

		/* A path under the mount point (v2, or the unified v2 tree of a hybrid
		 * setup) names the cgroup as /proc/PID/cgroup does without it. */
		if (!strncmp(c, "/sys/fs/cgroup/unified", 22) && (c[22] == '/' || !c[22]))
			memmove(c, c + 22, strlen(c + 22) + 1);
		else if (!strncmp(c, "/sys/fs/cgroup", 14) && (c[14] == '/' || !c[14]))
			memmove(c, c + 14, strlen(c + 14) + 1);
		if (c[0] != '/') {
			char *r = malloc(strlen(c) + 2);

			if (!r)
				return -1;
			r[0] = '/';
			strcpy(r + 1, c);
			free(c);
			d->cgroups[i] = c = r;
		}
		len = strlen(c);
		while (len > 1 && c[len - 1] == '/')
			c[--len] = '\0';
	}
	return 0;
}

bool discovery__empty(const struct discovery *d)
{
	return !d->nr_pids && !d->nr_comms && !d->nr_cgroups;
}

void discovery__free(struct discovery *d)
{
	for (size_t i = 0; i < d->nr_comms; i++)
		free(d->comms[i]);
	for (size_t i = 0; i < d->nr_cgroups; i++)
		free(d->cgroups[i]);
	free(d->comms);
	free(d->cgroups);
	free(d->pids);
	memset(d, 0, sizeof(*d));
}

static bool under(const char *cg, size_t len, const char *path)
{
	size_t pl = strlen(path);

	if (pl == 1)            /* "/": everything */
		return true;
	return len >= pl && !memcmp(cg, path, pl) && (len == pl || cg[pl] == '/');
}

bool discovery__cgroup_match(const char *text, const char *path)
{
	/* Lines "ID:CONTROLLERS:PATH"; v2 is "0::PATH". */
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *c1 = memchr(line, ':', end - line);
		const char *c2 = c1 ? memchr(c1 + 1, ':', end - c1 - 1) : NULL;

		if (c2 && under(c2 + 1, end - c2 - 1, path))
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

static int read_small(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

/* A live user process (not a kernel thread, not a zombie, a thread group leader). */
static bool is_user_process(pid_t pid)
{
	char buf[1024], *p;
	unsigned long flags = 0;
	char state = 0;
	int tgid_ok;

	if (read_small(pid, "stat", buf, sizeof(buf)) <= 0)
		return false;
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	if (state == 'Z' || state == 'X' || (flags & 0x00200000 /* PF_KTHREAD */))
		return false;
	if (read_small(pid, "status", buf, sizeof(buf)) <= 0)
		return false;
	p = strstr(buf, "\nTgid:");
	tgid_ok = p && atoi(p + 6) == pid;
	return tgid_ok;
}

bool discovery__matches(const struct discovery *d, pid_t pid)
{
	char buf[4096];
	bool hit = false;

	if (pid == d->self)
		return false;
	/* The cheap tests first: most processes fail them. */
	for (size_t i = 0; i < d->nr_pids && !hit; i++)
		hit = d->pids[i] == pid;
	if (!hit && d->nr_comms && read_small(pid, "comm", buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		for (size_t i = 0; i < d->nr_comms && !hit; i++)
			hit = !strcmp(buf, d->comms[i]);
	}
	if (!hit && d->nr_cgroups && read_small(pid, "cgroup", buf, sizeof(buf)) > 0)
		for (size_t i = 0; i < d->nr_cgroups && !hit; i++)
			hit = discovery__cgroup_match(buf, d->cgroups[i]);
	return hit && is_user_process(pid);
}

int discovery__scan(const struct discovery *d, void (*fn)(void *cookie, pid_t pid), void *cookie)
{
	DIR *dir;
	struct dirent *e;

	/* Only the listed pids: no need to walk /proc. */
	if (!d->nr_comms && !d->nr_cgroups) {
		for (size_t i = 0; i < d->nr_pids; i++)
			if (discovery__matches(d, d->pids[i]))
				fn(cookie, d->pids[i]);
		return 0;
	}
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (discovery__matches(d, (pid_t)pid))
			fn(cookie, (pid_t)pid);
	}
	closedir(dir);
	return 0;
}
