/*
 * Heap mode: the allocator entry points of an ELF file (see heap_attach.h).
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "allocators.h"
#include "heap_attach.h"
#include "heap_records.h"

#define NO ARENATRACE_HEAP_NONE
/* What each argument is: size index, count index, pointer index. */
#define A(s)       ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_ALLOC, s, NO, NO)
#define C(n, s)    ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_ALLOC, s, n, NO)
#define R(p, s)    ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_REALLOC, s, NO, p)
#define RN(p, n, s) ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_REALLOC, s, n, p)
#define F(p)       ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_FREE, 0, NO, p)
#define PM(o, s)   ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_MEMALIGN, s, NO, o)
#define X          ARENATRACE_HEAP_COOKIE(ARENATRACE_HEAP_XALLOCX, 1, NO, 0)

struct entry {
	const char *name;
	uint64_t cookie;
};

/* The malloc family and jemalloc's extensions: plain, and with the prefixes of
 * prefixed jemalloc builds (je_, and Rust's tikv-jemallocator _rjem_). */
static const struct entry family[] = {
	{ "malloc", A(0) }, { "calloc", C(0, 1) }, { "realloc", R(0, 1) },
	{ "reallocarray", RN(0, 1, 2) }, { "reallocf", R(0, 1) }, { "free", F(0) }, { "cfree", F(0) },
	{ "posix_memalign", PM(0, 2) }, { "aligned_alloc", A(1) }, { "memalign", A(1) },
	{ "valloc", A(0) }, { "pvalloc", A(0) },
	{ "mallocx", A(0) }, { "rallocx", R(0, 1) }, { "xallocx", X }, { "sdallocx", F(0) },
	{ "dallocx", F(0) },
};
static const char *const prefixes[] = { "", "je_", "_rjem_" };

/* gperftools tcmalloc and mimalloc under their own names. */
static const struct entry own[] = {
	{ "tc_malloc", A(0) }, { "tc_calloc", C(0, 1) }, { "tc_realloc", R(0, 1) }, { "tc_free", F(0) },
	{ "tc_cfree", F(0) }, { "tc_memalign", A(1) }, { "tc_posix_memalign", PM(0, 2) },
	{ "tc_valloc", A(0) }, { "tc_pvalloc", A(0) }, { "tc_malloc_skip_new_handler", A(0) },
	{ "tc_new", A(0) }, { "tc_newarray", A(0) }, { "tc_new_nothrow", A(0) },
	{ "tc_newarray_nothrow", A(0) }, { "tc_new_aligned", A(0) }, { "tc_newarray_aligned", A(0) },
	{ "tc_new_aligned_nothrow", A(0) }, { "tc_newarray_aligned_nothrow", A(0) },
	{ "tc_delete", F(0) }, { "tc_deletearray", F(0) }, { "tc_delete_nothrow", F(0) },
	{ "tc_deletearray_nothrow", F(0) }, { "tc_delete_sized", F(0) }, { "tc_deletearray_sized", F(0) },
	{ "tc_delete_aligned", F(0) }, { "tc_deletearray_aligned", F(0) },
	{ "tc_delete_sized_aligned", F(0) }, { "tc_deletearray_sized_aligned", F(0) },
	{ "tc_delete_aligned_nothrow", F(0) }, { "tc_deletearray_aligned_nothrow", F(0) },
	{ "mi_malloc", A(0) }, { "mi_calloc", C(0, 1) }, { "mi_realloc", R(0, 1) }, { "mi_free", F(0) },
	{ "mi_zalloc", A(0) }, { "mi_malloc_small", A(0) }, { "mi_zalloc_small", A(0) },
	{ "mi_mallocn", C(0, 1) }, { "mi_reallocn", RN(0, 1, 2) }, { "mi_reallocf", R(0, 1) },
	{ "mi_rezalloc", R(0, 1) }, { "mi_recalloc", RN(0, 1, 2) }, { "mi_reallocarray", RN(0, 1, 2) },
	{ "mi_malloc_aligned", A(0) }, { "mi_malloc_aligned_at", A(0) }, { "mi_zalloc_aligned", A(0) },
	{ "mi_zalloc_aligned_at", A(0) }, { "mi_calloc_aligned", C(0, 1) },
	{ "mi_calloc_aligned_at", C(0, 1) }, { "mi_realloc_aligned", R(0, 1) },
	{ "mi_realloc_aligned_at", R(0, 1) }, { "mi_rezalloc_aligned", R(0, 1) },
	{ "mi_rezalloc_aligned_at", R(0, 1) }, { "mi_free_size", F(0) }, { "mi_free_aligned", F(0) },
	{ "mi_free_size_aligned", F(0) }, { "mi_posix_memalign", PM(0, 2) }, { "mi_aligned_alloc", A(1) },
	{ "mi_memalign", A(1) }, { "mi_valloc", A(0) }, { "mi_pvalloc", A(0) },
	{ "mi_new", A(0) }, { "mi_new_aligned", A(0) }, { "mi_new_nothrow", A(0) },
	{ "mi_new_aligned_nothrow", A(0) }, { "mi_new_n", C(0, 1) }, { "mi_new_realloc", R(0, 1) },
	{ "mi_new_reallocn", RN(0, 1, 2) },
	{ "mi_heap_malloc", A(1) }, { "mi_heap_zalloc", A(1) }, { "mi_heap_calloc", C(1, 2) },
	{ "mi_heap_mallocn", C(1, 2) }, { "mi_heap_malloc_small", A(1) }, { "mi_heap_realloc", R(1, 2) },
	{ "mi_heap_reallocn", RN(1, 2, 3) }, { "mi_heap_reallocf", R(1, 2) },
	{ "mi_heap_rezalloc", R(1, 2) }, { "mi_heap_recalloc", RN(1, 2, 3) },
	{ "mi_heap_malloc_aligned", A(1) }, { "mi_heap_malloc_aligned_at", A(1) },
	{ "mi_heap_zalloc_aligned", A(1) }, { "mi_heap_zalloc_aligned_at", A(1) },
	{ "mi_heap_calloc_aligned", C(1, 2) }, { "mi_heap_calloc_aligned_at", C(1, 2) },
};

/* C++ operators new and delete (all sized, aligned and nothrow forms). */
static const struct entry cxx_ops[] = {
	{ "_Znwm", A(0) }, { "_Znam", A(0) }, { "_ZnwmRKSt9nothrow_t", A(0) }, { "_ZnamRKSt9nothrow_t", A(0) },
	{ "_ZnwmSt11align_val_t", A(0) }, { "_ZnamSt11align_val_t", A(0) },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", A(0) }, { "_ZnamSt11align_val_tRKSt9nothrow_t", A(0) },
	{ "_ZdlPv", F(0) }, { "_ZdaPv", F(0) }, { "_ZdlPvm", F(0) }, { "_ZdaPvm", F(0) },
	{ "_ZdlPvRKSt9nothrow_t", F(0) }, { "_ZdaPvRKSt9nothrow_t", F(0) },
	{ "_ZdlPvSt11align_val_t", F(0) }, { "_ZdaPvSt11align_val_t", F(0) },
	{ "_ZdlPvmSt11align_val_t", F(0) }, { "_ZdaPvmSt11align_val_t", F(0) },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", F(0) }, { "_ZdaPvSt11align_val_tRKSt9nothrow_t", F(0) },
};

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static bool lookup(const char *name, bool cxx, uint64_t *cookie)
{
	for (size_t p = 0; p < LEN(prefixes); p++) {
		size_t pl = strlen(prefixes[p]);

		if (strncmp(name, prefixes[p], pl))
			continue;
		for (size_t i = 0; i < LEN(family); i++)
			if (!strcmp(name + pl, family[i].name)) {
				*cookie = family[i].cookie;
				return true;
			}
	}
	for (size_t i = 0; i < LEN(own); i++)
		if (!strcmp(name, own[i].name)) {
			*cookie = own[i].cookie;
			return true;
		}
	for (size_t i = 0; cxx && i < LEN(cxx_ops); i++)
		if (!strcmp(name, cxx_ops[i].name)) {
			*cookie = cxx_ops[i].cookie;
			return true;
		}
	return false;
}

/* A virtual address of the file's image to its file offset (through PT_LOAD). */
static bool vaddr_to_offset(Elf *e, uint64_t vaddr, uint64_t *off)
{
	size_t nph;

	if (elf_getphdrnum(e, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return true;
		}
	}
	return false;
}

struct heap_probe *heap_attach__scan(const char *path, bool cxx, size_t *n)
{
	struct heap_probe *out = NULL;
	size_t cap = 0;
	Elf_Scn *scn = NULL;
	Elf *e;
	int fd;

	*n = 0;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		if (e)
			elf_end(e);
		close(fd);
		return NULL;
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			const char *name;
			uint64_t cookie, off;
			GElf_Sym sym;
			bool dup = false;

			if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value ||
			    (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC))
				continue;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (!name || !lookup(name, cxx, &cookie) || !vaddr_to_offset(e, sym.st_value, &off))
				continue;
			/* An alias (mimalloc's malloc is mi_malloc) or both tables: once. */
			for (size_t k = 0; k < *n && !dup; k++)
				dup = out[k].offset == off;
			if (dup)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 32;
				out = realloc(out, cap * sizeof(*out));
				if (!out)
					abort();
			}
			out[*n].offset = off;
			out[*n].cookie = cookie;
			snprintf(out[*n].name, sizeof(out[*n].name), "%s", name);
			(*n)++;
		}
	}
	elf_end(e);
	close(fd);
	return out;
}

bool heap_attach__is_allocator_lib(const char *path)
{
	return allocators__from_path(path) & (ALLOC_GLIBC | ALLOC_JEMALLOC | ALLOC_TCMALLOC | ALLOC_MIMALLOC);
}

/* Whether the executable is dynamically linked (has an interpreter). */
static bool is_dynamic(const char *exe)
{
	bool dyn = false;
	size_t nph;
	Elf *e;
	int fd = open(exe, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e && elf_kind(e) == ELF_K_ELF && !elf_getphdrnum(e, &nph))
		for (size_t i = 0; i < nph && !dyn; i++) {
			GElf_Phdr ph;

			dyn = gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP;
		}
	if (e)
		elf_end(e);
	close(fd);
	return dyn;
}

bool heap_attach__find_libc(const char *exe, char *out, size_t n)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					    "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
					    "/lib64", "/usr/lib64", "/lib", "/usr/lib" };

	if (elf_version(EV_CURRENT) == EV_NONE || !is_dynamic(exe))
		return false;
	for (size_t i = 0; i < LEN(dirs); i++) {
		snprintf(out, n, "%s/libc.so.6", dirs[i]);
		if (access(out, R_OK) == 0)
			return true;
	}
	return false;
}
