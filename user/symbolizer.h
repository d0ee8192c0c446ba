/*
 * Symbolizer: turns the target's code addresses into function, file:line, module
 * path and build-id with elfutils' libdwfl. Modules come from /proc/PID/maps;
 * their ELF files are opened while the target is alive (through /proc/PID/root
 * for containers, /proc/PID/map_files for deleted files), so addresses keep
 * resolving after it exits. Results are cached per (build-id, module offset):
 * libdwfl's symbol lookup is a linear scan of ~100 us.
 *
 * Not thread-safe: one symbolizer per thread (libdwfl state is not either).
 */
#ifndef ARENATRACE_SYMBOLIZER_H
#define ARENATRACE_SYMBOLIZER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct symbolizer;
struct Dwfl;

/* One resolved address. Strings are owned by the symbolizer and stay valid
 * until symbolizer__free; only function is never NULL. */
struct sym_frame {
	uint64_t ip;             /* the address asked for */
	const char *function;    /* demangled when C++, "[unknown]" when no symbol */
	const char *file;        /* source file, NULL without line info */
	int line;                /* 0 without line info */
	const char *module;      /* path as the target sees it (maybe " (deleted)"), NULL = none */
	const char *build_id;    /* lowercase hex, NULL when the module has none */
	uint64_t module_offset;  /* ip in the ELF file's address space (ip - load bias),
				  * what `addr2line -e module` takes; ip when no module */
};

struct symbolizer_stats {
	uint64_t lookups;        /* resolve calls */
	uint64_t cache_hits;     /* answered from the cache */
	uint64_t cache_misses;   /* looked up in the ELF/DWARF (cost ~100 us each) */
	uint64_t no_module;      /* addresses outside every reported module */
	uint64_t refreshes;      /* refreshes that re-read the modules (maps changed) */
	uint64_t modules;        /* modules seen so far, including unmapped ones */
	uint64_t cache_evictions; /* times the full cache was emptied */
};

/* Reports the modules of pid. Without debuginfod, DEBUGINFOD_URLS is removed from
 * this process' environment (a lookup can stall for 90 s). NULL + errno on error
 * (ESRCH: no such process). */
struct symbolizer *symbolizer__new(pid_t pid, bool debuginfod);

/* Re-reads the target's modules after it mapped new code. Cheap (one read of
 * /proc/PID/maps) when no file mapping changed. 0, or -errno (-ESRCH once the
 * target is gone: what was reported before stays usable). */
int symbolizer__refresh(struct symbolizer *s);

/* Resolves an exact instruction address (a sampled ip, ips[0] of a stack).
 * 0 when a module covers ip, -ENOENT when none does (out still filled, with
 * "[unknown]"), -EINVAL on NULL arguments. */
int symbolizer__resolve(struct symbolizer *s, uint64_t ip, struct sym_frame *out);

/* Same for a stack frame: return addresses (ips[1..] of a stack) point after the
 * call, possibly into the next function or line, so they are looked up at ip - 1.
 * out->ip and out->module_offset still describe ip itself. */
int symbolizer__resolve_frame(struct symbolizer *s, uint64_t ip, bool return_address,
			      struct sym_frame *out);

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

/* For the unwinder (unwind.c), which attaches its thread state to this Dwfl. */
struct Dwfl *symbolizer__dwfl(struct symbolizer *s);
/* A Dwfl for the unwinder, rebuilt when the target's code mappings changed:
 * libdwfl's attached thread state does not survive modules being re-reported. */
struct Dwfl *symbolizer__unwind_dwfl(struct symbolizer *s);
pid_t symbolizer__pid(const struct symbolizer *s);

void symbolizer__free(struct symbolizer *s);

#endif
