#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "procmaps.h"

bool procmaps__parse_line(const char *line, struct region *r)
{
	unsigned long long start, end, off, ino;
	char perms[8], dev[16];
	int pathpos = 0;

	if (sscanf(line, "%llx-%llx %7s %llx %15s %llu %n", &start, &end, perms, &off, dev, &ino,
		   &pathpos) < 6 || end <= start || strlen(perms) < 4)
		return false;
	memset(r, 0, sizeof(*r));
	r->start = start;
	r->end = end;
	r->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	r->shared = perms[3] == 's';
	if (pathpos > 0) {
		const char *p = line + pathpos;
		size_t n = strcspn(p, "\n");

		while (n && p[n - 1] == ' ')
			n--;
		if (n) {
			/* Not user memory the RSS counters see: kernel-owned pages. */
			if (!strncmp(p, "[vvar", 5) || !strncmp(p, "[vsyscall]", 10))
				return false;
			r->path = strndup(p, n);
		}
	}
	return true;
}

int procmaps__for_each(pid_t pid, void (*fn)(void *cookie, const struct region *r), void *cookie)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		struct region r;

		if (!procmaps__parse_line(line, &r))
			continue;
		fn(cookie, &r);
		free(r.path);
	}
	free(line);
	fclose(f);
	return 0;
}

struct lookup {
	uint64_t addr;
	struct region *out;
	bool found;
};

static void lookup_one(void *cookie, const struct region *r)
{
	struct lookup *lk = cookie;

	if (!lk->found && r->start <= lk->addr && lk->addr < r->end) {
		*lk->out = *r;
		lk->out->path = r->path ? strdup(r->path) : NULL;
		lk->found = true;
	}
}

bool procmaps__lookup(pid_t pid, uint64_t addr, struct region *r)
{
	struct lookup lk = { .addr = addr, .out = r };

	procmaps__for_each(pid, lookup_one, &lk);
	return lk.found;
}

char *procmaps__map_file_path(pid_t pid, uint64_t start, uint64_t end)
{
	char link[96], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, start, end);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

bool procmaps__peek(pid_t pid, int *fd, uint64_t addr, void *buf, size_t len)
{
	if (*fd < 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return false;
	}
	if (addr > (uint64_t)INT64_MAX - len)
		return false;
	return pread(*fd, buf, len, (off_t)addr) == (ssize_t)len;
}

size_t procmaps__thread_sps(pid_t pid, uint64_t *sps, size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		char file[320], buf[256];
		unsigned long long v[9];
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%s/syscall", pid, de->d_name);
		f = fopen(file, "re");
		if (!f)
			continue;
		/* "nr a1 .. a6 sp pc" for a blocked thread, "running" otherwise. */
		if (fgets(buf, sizeof(buf), f) &&
		    sscanf(buf, "%llu %llx %llx %llx %llx %llx %llx %llx %llx", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9)
			sps[n++] = v[7];
		fclose(f);
	}
	closedir(d);
	return n;
}
