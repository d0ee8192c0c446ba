#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "allocators.h"
#include "arenatrace_records.h"
#include "events.h"
#include "procmaps.h"
#include "recorder.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

static bool failed(int64_t ret)
{
	return ret < 0 && ret > -4096;
}

/* procmaps__map_file_path, recorded. */
static char *map_file_path(pid_t pid, uint64_t start, uint64_t end)
{
	const void *p;
	uint32_t n;
	char *path;

	switch (input__take_var(IN_MAPFILE, &p, &n)) {
	case INPUT_GOT:
		return n ? strndup(p, n) : NULL;
	case INPUT_NONE:
		return NULL;
	case INPUT_ASK_LIVE:
		break;
	}
	path = procmaps__map_file_path(pid, start, end);
	input__put(IN_MAPFILE, path, path ? strlen(path) : 0);
	return path;
}

/* procmaps__lookup, recorded (the tracer's resolve callback uses it too). */
bool events__lookup(pid_t pid, uint64_t addr, struct region *r)
{
	bool ok = false;

	switch (input__take_region(IN_RESOLVE, &ok, r)) {
	case INPUT_GOT:
		return ok;
	case INPUT_NONE:
		return false;
	case INPUT_ASK_LIVE:
		break;
	}
	ok = procmaps__lookup(pid, addr, r);
	input__put_region(IN_RESOLVE, ok, r);
	return ok;
}

static void apply_mmap(struct ledger *l, pid_t pid, const struct arenatrace_syscall_record *r)
{
	uint64_t start = (uint64_t)r->ret, len = AT_PAGE_ALIGN(r->args[1]);
	uint32_t flags = (uint32_t)r->args[3];
	struct region reg = {
		.start = start, .end = start + len, .prot = (uint32_t)r->args[2],
		.map_flags = flags, .shared = (flags & MAP_SHARED) != 0,
	};
	char *path = NULL;

	if (!(flags & MAP_ANONYMOUS)) {
		path = pid > 0 ? map_file_path(pid, start, start + len) : NULL;
		if (!path && pid > 0) {
			/* Partly replaced since (ld.so maps a library whole, then its
			 * segments over it): whatever file is at start now is the one. */
			struct region now;

			if (events__lookup(pid, start, &now)) {
				if (region__is_file(&now))
					path = now.path;
				else
					free(now.path);
			}
		}
		/* A library loaded now (LD_PRELOAD'ed or dlopen'ed allocator). */
		l->proc.allocators |= allocators__from_path(path);
		/* Gone already, or mapped beyond the file: keep it a file mapping anyway. */
		reg.path = path ? path : "/(unknown file)";
	} else if (reg.shared) {
		reg.path = "/dev/zero (deleted)";
	}
	ledger__map(l, &reg, r->delta_pages);
	free(path);
}

static void apply_syscall(struct ledger *l, pid_t pid, const struct arenatrace_syscall_record *r)
{
	const __u64 *a = r->args;

	if (failed(r->ret)) {
		/* A failed call can still have changed RSS (a partial populate). */
		if (r->delta_pages)
			ledger__unattributed(l, r->delta_pages);
		return;
	}
	switch (r->sys) {
	case ARENATRACE_SYS_MMAP:
		apply_mmap(l, pid, r);
		break;
	case ARENATRACE_SYS_MUNMAP:
		ledger__unmap(l, a[0], a[0] + a[1], r->delta_pages);
		break;
	case ARENATRACE_SYS_BRK:
		ledger__brk(l, (uint64_t)r->ret, r->delta_pages);
		break;
	case ARENATRACE_SYS_MREMAP:
		ledger__remap(l, a[0], a[1], (uint64_t)r->ret, a[2], (a[3] & MREMAP_DONTUNMAP) != 0,
			      r->delta_pages);
		break;
	case ARENATRACE_SYS_MPROTECT:
		ledger__protect(l, a[0], a[0] + a[1], (uint32_t)a[2], r->delta_pages);
		break;
	case ARENATRACE_SYS_MADVISE:
	case ARENATRACE_SYS_MLOCK:
		ledger__range_delta(l, a[0], a[0] + a[1], r->delta_pages);
		break;
	default:
		ledger__unattributed(l, r->delta_pages);
	}
}

void events__apply(struct ledger *l, pid_t pid, uint64_t seed_ns, const void *data, size_t len,
		   const struct event_sink *sink, struct event_stats *st)
{
	const struct arenatrace_rss_record *hdr = data;

	st->records++;
	if (len < 16) {
		st->malformed++;
		return;
	}
	if (hdr->ts_ns < seed_ns) {
		st->skipped_before_seed++;
		return;
	}
	l->now_ns = hdr->ts_ns;
	switch (hdr->type) {
	case ARENATRACE_REC_RSS:
		if (len < sizeof(struct arenatrace_rss_record))
			break;
		st->rss++;
		if ((hdr->origin & 0xff) == ARENATRACE_ORIGIN_UNKNOWN)
			ledger__unattributed(l, hdr->delta_pages);
		else
			ledger__fault(l, hdr->addr, hdr->delta_pages);
		return;
	case ARENATRACE_REC_FAULT_RUN: {
		const struct arenatrace_run_record *r = data;

		if (len < sizeof(*r))
			break;
		st->rss++;
		ledger__fault_run(l, r->lo, r->hi, (int64_t)r->added_pages, (int64_t)r->removed_pages,
				  r->first_ns);
		if (r->origin & ARENATRACE_UNCERTAIN)
			ledger__suspect(l);
		return;
	}
	case ARENATRACE_REC_SYSCALL:
		if (len < sizeof(struct arenatrace_syscall_record))
			break;
		st->syscalls++;
		apply_syscall(l, pid, data);
		if (((const struct arenatrace_syscall_record *)data)->flags & ARENATRACE_UNCERTAIN)
			ledger__suspect(l);
		return;
	case ARENATRACE_REC_EXEC: {
		const struct arenatrace_exec_record *e = data;
		char comm[ARENATRACE_COMM_LEN + 1], file[ARENATRACE_PATH_LEN + 1];

		if (len < sizeof(*e))
			break;
		memcpy(comm, e->comm, ARENATRACE_COMM_LEN);
		comm[ARENATRACE_COMM_LEN] = '\0';
		memcpy(file, e->filename, ARENATRACE_PATH_LEN);
		file[ARENATRACE_PATH_LEN] = '\0';
		if (sink && sink->exec)
			sink->exec(sink->cookie, comm, file, e->ts_ns);
		return;
	}
	case ARENATRACE_REC_EXIT:
	case ARENATRACE_REC_THREAD: {
		const struct arenatrace_task_record *t = data;

		if (len < sizeof(*t))
			break;
		if (hdr->type == ARENATRACE_REC_EXIT && sink && sink->exit)
			sink->exit(sink->cookie, t->exit_code, t->ts_ns);
		if (hdr->type == ARENATRACE_REC_THREAD && sink && sink->thread)
			sink->thread(sink->cookie, t->tid, t->ts_ns);
		return;
	}
	}
	st->malformed++;
}
