/* Reading the target's mappings from /proc/PID/maps (seed and unknown addresses). */
#ifndef ARENATRACE_PROCMAPS_H
#define ARENATRACE_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "region.h"

/* Parses one maps line into r (r->path is malloc'ed or NULL). Returns false for
 * lines that are not user memory we account ([vvar], [vsyscall]) or malformed. */
bool procmaps__parse_line(const char *line, struct region *r);

/* Calls fn for every accounted mapping; returns 0 or -errno. */
int procmaps__for_each(pid_t pid, void (*fn)(void *cookie, const struct region *r), void *cookie);

/* Finds the mapping containing addr; fills r (caller frees r->path). */
bool procmaps__lookup(pid_t pid, uint64_t addr, struct region *r);

/* Path of a file mapping through /proc/PID/map_files (works for deleted files). */
char *procmaps__map_file_path(pid_t pid, uint64_t start, uint64_t end);

/* Reads len bytes of the target's memory at addr with pread on /proc/PID/mem,
 * which never changes it. *fd caches the open file (-1: open it now). */
bool procmaps__peek(pid_t pid, int *fd, uint64_t addr, void *buf, size_t len);

/* Stack pointers of the target's threads blocked in the kernel. */
size_t procmaps__thread_sps(pid_t pid, uint64_t *sps, size_t max);

#endif
