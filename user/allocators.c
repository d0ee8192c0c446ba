/*
 * Allocator fingerprints from outside the process: library names in its maps and
 * symbols of statically linked copies in its executable (see allocators.h).
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "allocators.h"
#include "procmaps.h"

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

unsigned allocators__from_path(const char *path)
{
	const char *b;

	if (!path || path[0] != '/')
		return 0;
	b = basename_of(path);
	if (strstr(b, "libjemalloc"))
		return ALLOC_JEMALLOC;
	if (strstr(b, "libtcmalloc"))
		return ALLOC_TCMALLOC;
	if (strstr(b, "libmimalloc"))
		return ALLOC_MIMALLOC;
	if (!strncmp(b, "libpython", 9))
		return ALLOC_CPYTHON;
	/* libc.so.6, or an old-style libc-2.31.so */
	if (!strncmp(b, "libc.so", 7) || (!strncmp(b, "libc-", 5) && strstr(b, ".so")))
		return ALLOC_GLIBC;
	return 0;
}

/* Symbols that only a copy of one allocator defines. */
static const struct {
	const char *name;
	unsigned id;
} fingerprints[] = {
	{ "je_malloc", ALLOC_JEMALLOC },        /* jemalloc built with a je_ prefix */
	{ "je_mallctl", ALLOC_JEMALLOC },
	{ "_rjem_malloc", ALLOC_JEMALLOC },     /* Rust tikv-jemallocator */
	{ "_rjem_mallctl", ALLOC_JEMALLOC },
	{ "tc_malloc", ALLOC_TCMALLOC },
	{ "mi_malloc", ALLOC_MIMALLOC },
	{ "runtime.mallocgc", ALLOC_GO },
	{ "PyObject_Malloc", ALLOC_CPYTHON },
	{ "__libc_malloc", ALLOC_GLIBC },       /* a static glibc */
};

struct symscan {
	unsigned found;
	bool mallctl, malloc_conf;   /* unprefixed jemalloc: both */
};

static void scan_name(struct symscan *s, const char *name)
{
	if (!name || !name[0])
		return;
	for (size_t i = 0; i < sizeof(fingerprints) / sizeof(fingerprints[0]); i++)
		if (!strcmp(name, fingerprints[i].name))
			s->found |= fingerprints[i].id;
	if (!strcmp(name, "mallctl"))
		s->mallctl = true;
	else if (!strcmp(name, "malloc_conf"))
		s->malloc_conf = true;
}

unsigned allocators__from_elf(const char *path)
{
	struct symscan s = {0};
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	Elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || elf_getshdrstrndx(e, &shstrndx)) {
		if (e)
			elf_end(e);
		close(fd);
		return 0;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *sname;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(e, shstrndx, sh.sh_name);
		/* A Go binary says so even when stripped of its symbols. */
		if (sname && (!strcmp(sname, ".go.buildinfo") || !strcmp(sname, ".note.go.buildid")))
			s.found |= ALLOC_GO;
		if ((sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;

			/* Defined symbols only: an undefined malloc_conf is a reference. */
			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			scan_name(&s, elf_strptr(e, sh.sh_link, sym.st_name));
		}
	}
	elf_end(e);
	close(fd);
	if (s.mallctl && s.malloc_conf)
		s.found |= ALLOC_JEMALLOC;
	return s.found;
}

static void detect_one(void *cookie, const struct region *r)
{
	*(unsigned *)cookie |= allocators__from_path(r->path);
}

unsigned allocators__detect(pid_t pid)
{
	char exe[64];
	unsigned mask = 0;

	procmaps__for_each(pid, detect_one, &mask);
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	return mask | allocators__from_elf(exe);
}

bool allocators__glibc_heap_info(bool (*peek)(void *cookie, uint64_t addr, void *buf, size_t len),
				 void *cookie, uint64_t addr, uint64_t *ar_ptr, uint64_t *prev)
{
	struct {   /* glibc 2.35+ (Debian 12: 2.36) */
		uint64_t ar_ptr, prev, size, mprotect_size, pagesize;
	} h;

	if (!peek || !peek(cookie, addr, &h, sizeof(h)))
		return false;
	if (!h.ar_ptr || h.ar_ptr >= (1ULL << 56) || !h.size || h.size > GLIBC_HEAP_MAX ||
	    (h.size & 4095) || h.mprotect_size < h.size || h.mprotect_size > GLIBC_HEAP_MAX ||
	    (h.prev & (GLIBC_HEAP_MAX - 1)) || h.pagesize < 4096 || (h.pagesize & (h.pagesize - 1)))
		return false;
	*ar_ptr = h.ar_ptr;
	*prev = h.prev;
	return true;
}

const char *allocators__names(unsigned mask, char *buf, size_t n)
{
	static const char *const names[] = { "glibc", "jemalloc", "tcmalloc", "mimalloc", "go", "cpython" };
	size_t len = 0;

	if (!n)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(mask & (1u << i)))
			continue;
		int w = snprintf(buf + len, n - len, "%s%s", len ? "," : "", names[i]);

		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
	}
	return buf;
}
