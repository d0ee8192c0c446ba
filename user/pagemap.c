#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "pagemap.h"

#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define HPAGE_SIZE (2ULL << 20)
#define HPAGE_PFNS 512

static uint64_t own_pfn(const volatile char *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), ((uintptr_t)p / 4096) * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return (e & PM_PRESENT) ? (e & PM_PFN_MASK) : 0;
}

/* Learn the zero pages' pfns by read-faulting fresh anonymous memory of our own. */
static void probe_zero_pfns(struct pagemap *pm)
{
	volatile char *p;
	char *big, *aligned;

	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		(void)p[0];
		pm->zero_pfn = own_pfn(p);
		munmap((void *)p, 4096);
	}
	big = mmap(NULL, 2 * HPAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big != MAP_FAILED) {
		aligned = (char *)(((uintptr_t)big + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1));
		madvise(aligned, HPAGE_SIZE, MADV_HUGEPAGE);
		(void)*(volatile char *)aligned;
		uint64_t pfn = own_pfn(aligned);
		if (pfn && pfn != pm->zero_pfn)
			pm->huge_zero_pfn = pfn;
		munmap(big, 2 * HPAGE_SIZE);
	}
}

int pagemap__open(struct pagemap *pm, pid_t pid)
{
	char path[64];

	memset(pm, 0, sizeof(*pm));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm->fd < 0)
		return -errno;
	probe_zero_pfns(pm);
	return 0;
}

void pagemap__close(struct pagemap *pm)
{
	if (pm->fd >= 0)
		close(pm->fd);
	pm->fd = -1;
}

static int is_zero(const struct pagemap *pm, uint64_t pfn)
{
	if (pm->zero_pfn && pfn == pm->zero_pfn)
		return 1;
	return pm->huge_zero_pfn && pfn >= pm->huge_zero_pfn && pfn < pm->huge_zero_pfn + HPAGE_PFNS;
}

int64_t pagemap__resident(struct pagemap *pm, uint64_t start, uint64_t end)
{
	enum { BATCH = 4096 };
	static uint64_t buf[BATCH];
	int64_t resident = 0;

	for (uint64_t va = start; va < end;) {
		uint64_t n = (end - va) / 4096;
		ssize_t got;

		if (n > BATCH)
			n = BATCH;
		got = pread(pm->fd, buf, n * sizeof(uint64_t), (va / 4096) * sizeof(uint64_t));
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		n = got / sizeof(uint64_t);
		for (uint64_t i = 0; i < n; i++)
			if ((buf[i] & PM_PRESENT) && !is_zero(pm, buf[i] & PM_PFN_MASK))
				resident++;
		va += n * 4096;
	}
	return resident;
}
