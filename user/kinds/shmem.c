/* shmem: shared memory: MAP_SHARED anonymous, POSIX shm, memfd and SysV segments. */
#include <stdio.h>
#include "../ledger.h"

static bool is_shmem_path(const char *p)
{
	return !strncmp(p, "/dev/zero", 9) || !strncmp(p, "/dev/shm/", 9) ||
	       !strncmp(p, "/memfd:", 7) || !strncmp(p, "/SYSV", 5);
}

static bool claim(const struct region *r, const struct ledger *l, char *key, size_t keylen)
{
	(void)l;
	if (!r->shared)
		return false;
	if (!r->path || region__is_anon(r) || !strncmp(r->path, "/dev/zero", 9)) {
		snprintf(key, keylen, "0x%llx", (unsigned long long)r->start);
		return true;
	}
	if (is_shmem_path(r->path)) {
		snprintf(key, keylen, "%s", r->path);
		return true;
	}
	return false;
}

const struct arena_kind kind_shmem = { .name = "shmem", .claim = claim };
